"""CSV that a spreadsheet opens as text (sthlib.csvtext): a cell starting like a formula is quoted, numbers and
other text are written as they are, and the file reads back with the csv module."""

import csv
import io

import pytest

from sthlib.csvtext import csv_text, spreadsheet_safe


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "=1"])
def test_a_cell_a_spreadsheet_would_evaluate_gets_a_leading_quote(cell):
    assert spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["model a", "a=b", "", -0.5, 3, None, "0.25", "resnet18-mnist-a4"])
def test_numbers_and_ordinary_text_are_left_alone(cell):
    assert spreadsheet_safe(cell) == cell


def test_the_text_reads_back_with_every_formula_neutralised():
    text = csv_text(["name", "value"], [["=cmd|' /C calc'!A0", -1.5], ["plain, with a comma", 2]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["name", "value"], ["'=cmd|' /C calc'!A0", "-1.5"], ["plain, with a comma", "2"]]
    assert text.endswith("\n") and "\r\n" not in text
