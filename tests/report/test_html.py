"""The HTML report is one self-contained document: every figure embedded, tables present, nothing
fetched from elsewhere, text escaped."""

import base64
import re
from html.parser import HTMLParser

import report_tables as synthetic

from seeds_dag.report import figures
from seeds_dag.report.html import Section, png_data_uri, render_report, wide_table


class _Sources(HTMLParser):
    """Every src/href attribute and the text of every <h2> of a document."""

    def __init__(self):
        super().__init__()
        self.links, self.headings, self._tag = [], [], None

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("src", "href")]
        self._tag = tag

    def handle_endtag(self, tag):
        self._tag = None

    def handle_data(self, data):
        if self._tag == "h2":
            self.headings.append(data)


def _report() -> tuple[str, dict[str, bytes]]:
    pngs = {"crps_by_lead": figures.lead_time_scores(synthetic.summary(), "crps"),
            "bias_maps": figures.bias_maps(synthetic.bias_maps(), synthetic.LEADS[0])}
    sections = [
        Section("Scores", figures={"crps_by_lead": pngs["crps_by_lead"]},
                tables={"CRPS": wide_table(synthetic.summary(), "crps")}),
        Section("Bias <maps> & more", text="x < y", figures={"bias_maps": pngs["bias_maps"]}),
    ]
    return render_report("Test report", sections), pngs


def test_every_figure_is_embedded_and_nothing_is_fetched():
    page, pngs = _report()
    parser = _Sources()
    parser.feed(page)
    assert parser.links == [png_data_uri(png) for png in pngs.values()]
    assert not re.search(r"(?:src|href)\s*=\s*[\"'](?!data:)", page)
    assert "<script" not in page and "@import" not in page and "url(" not in page


def test_embedded_figures_decode_to_the_same_bytes():
    page, pngs = _report()
    encoded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert [base64.b64decode(e) for e in encoded] == list(pngs.values())


def test_tables_and_headings_are_present_and_text_is_escaped():
    page, _ = _report()
    parser = _Sources()
    parser.feed(page)
    assert parser.headings == ["Scores", "Bias <maps> & more"]
    assert "Bias &lt;maps&gt; &amp; more" in page and "x &lt; y" in page
    assert page.count("<table") == 1
    for model in synthetic.MODELS:
        assert f"<th>{model}</th>" in page


def test_wide_table_puts_models_side_by_side_in_their_order():
    summary = synthetic.summary()
    wide = wide_table(summary, "crps")
    assert list(wide.columns) == list(synthetic.MODELS)
    assert wide.index.names == ["variable", "lead_time_days"]
    row = summary[(summary["variable"] == "t850") & (summary["lead_time_days"] == 3.0)
                  & (summary["model"] == "gee-128")]
    assert wide.loc[("t850", 3.0), "gee-128"] == row["crps"].item()
