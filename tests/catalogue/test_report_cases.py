"""Catalogue: reports and languages (issue 14, Reports).

A misspelt language, a title or description without the report's language, an unknown language
in a per-language text, a heading or message without a translation, an unknown column kind and a
browser that is missing each get a clear error naming the problem and the fix; no input changes.
"""
from __future__ import annotations

import nbformat
import pandas as pd
import pytest
import yaml

from evaluation import i18n, summary
from evaluation.params import ROOT, ParamsError, load_params
from evaluation.report import Gate, column_kinds
from tests.catalogue._util import unchanged


def _params(tmp_path, **changes):
    d = yaml.safe_load((ROOT / "params" / "refino.yaml").read_text())
    d.update(changes)
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(d, allow_unicode=True))
    return f


PARAMS_CASES = [
    ({"language": "no"}, r"language: Input should be 'en' or 'nb'"),
    ({"language": "NB"}, r"language: Input should be 'en' or 'nb'"),
    ({"language": "nb", "title": {"en": "REFINO"}},
     r"title has no 'nb' text but the report's language is 'nb': add `nb: \.\.\.` under title"),
    ({"title": {"en": "REFINO", "nn": "REFINO"}}, r"title: unknown language\(s\) \['nn'\]"),
    ({"language": "nb", "title": {"en": "A", "nb": "B"}, "description": {"en": "only English"}},
     r"description has no 'nb' text"),
]


@pytest.mark.parametrize("changes,message", PARAMS_CASES)
def test_language_errors_in_params(tmp_path, changes, message):
    f = _params(tmp_path, **changes)
    with unchanged(f), pytest.raises(ParamsError, match=message):
        load_params(f)


MESSAGE_CASES = [
    (lambda: i18n.translate_markdown("## A heading nobody translated", "nb"),
     r"notebook heading 'A heading nobody translated' has no 'nb' translation; add it to HEADINGS"),
    (lambda: i18n.t("no_such_message", "nb"), r"no message 'no_such_message'"),
    (lambda: i18n.t("summary", "de"), r"'de' is not supported; use one of: en, nb"),
    (lambda: Gate(5, {}, language="english"), r"'english' is not supported"),
    (lambda: column_kinds(pd.DataFrame({"x": [1]}), kinds={"x": "percent"}),
     r"column 'x': kind 'percent' is not one of count, money"),
]


@pytest.mark.parametrize("call,message", MESSAGE_CASES)
def test_translation_and_format_errors(call, message):
    with pytest.raises((i18n.TranslationError, ValueError), match=message):
        call()


def test_message_without_the_language_names_the_catalogue(monkeypatch):
    monkeypatch.setitem(i18n.MESSAGES, "half", {"en": "only English"})
    with pytest.raises(i18n.TranslationError, match=r"message 'half' has no 'nb' text in "
                                                    r"evaluation/i18n.py"):
        i18n.t("half", "nb")


def test_notebook_with_untranslated_heading_stops_before_running():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Balance\n### Brand new")])
    with pytest.raises(i18n.TranslationError, match="'Brand new'"):
        i18n.translate_notebook(nb, "nb")


def test_browser_missing_is_a_clear_error(tmp_path):
    page = tmp_path / "index.html"
    page.write_text("<html><body>x</body></html>")
    with unchanged(page), pytest.raises(FileNotFoundError, match=r"install Chromium .*apt-get install"):
        summary.browser_probe(page, chromium=str(tmp_path / "no-chromium"))
