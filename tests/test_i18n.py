"""Languages of the reports (evaluation.i18n): catalogue complete, numbers, headings, params."""
import nbformat
import pytest
import yaml

from evaluation import i18n
from evaluation.params import NOTEBOOK_DIR, ROOT, ParamsError, load_params


def test_every_notebook_heading_has_a_bokmaal_entry():
    missing = []
    n = 0
    for src in sorted(NOTEBOOK_DIR.glob("0*.py")):
        for h in i18n.notebook_headings(src.read_text()):
            n += 1
            if h not in i18n.HEADINGS:
                missing.append(f"{src.name}: {h!r}")
    assert n > 50
    assert not missing, "headings without an nb entry in evaluation/i18n.py HEADINGS:\n" + "\n".join(missing)


def test_every_message_in_both_languages():
    for key, entry in i18n.MESSAGES.items():
        assert set(entry) == set(i18n.LANGUAGES), key
        # the same fields in both languages
        import string
        fields = [{f for _, f, _, _ in string.Formatter().parse(entry[lang]) if f} for lang in entry]
        assert fields[0] == fields[1], key


def test_number_formats():
    assert i18n.format_number(1798.0) == "1\u202f798"
    assert i18n.format_number(15000, "nb") == "15\u202f000"
    assert i18n.format_number(1234.5, "nb", 1) == "1\u202f234,5"
    assert i18n.format_number(-0.04, "en", 1) == "0.0"            # no "-0.0"
    assert i18n.format_number(-1.5, "nb", 1, minus="\u2212") == "\u22121,5"
    assert i18n.significant(0.0152345, 3) == "0.0152"
    assert i18n.significant(0.0152345, 3, "nb") == "0,0152"
    assert i18n.significant(1234.567, 3) == "1\u202f235"
    assert i18n.format_number(float("nan")) == "–"


def test_translate_markdown_headings_and_paragraphs():
    src = "## Balance\nShare of persons without register data at the event month,\nby arm.\n\n### Power"
    assert i18n.translate_markdown(src, "nb") == ("## Balanse\nAndel personer uten registerdata i "
                                                  "hendelsesmåneden, etter gruppe.\n\n### Styrke")
    assert i18n.translate_markdown(src, "en") == src
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Subgroups"),
                                         nbformat.v4.new_code_cell("x = 1  # ## Subgroups")])
    i18n.translate_notebook(nb, "nb")
    assert nb.cells[0].source == "## Undergrupper" and nb.cells[1].source.endswith("## Subgroups")
    with pytest.raises(i18n.TranslationError, match=r"paragraph 'Some new text.*PROSE in evaluation/i18n.py"):
        i18n.translate_markdown("## Balance\nSome new text.", "nb")


def test_every_notebook_paragraph_and_text_has_a_bokmaal_entry():
    """Every prose paragraph of every notebook has its bokmål in PROSE; every caption, note and
    figure title a notebook publishes is a catalogue key (gate.tr / constant caption), never an
    f-string the catalogue cannot reach."""
    missing, n_par, n_txt = [], 0, 0
    for src in sorted(NOTEBOOK_DIR.glob("0*.py")):
        text = src.read_text()
        for par in i18n.notebook_paragraphs(text):
            n_par += 1
            if i18n._norm(par) not in i18n.PROSE:
                missing.append(f"{src.name}: paragraph {par[:60]!r}")
        keys, bad = i18n.notebook_texts(text)
        missing += [f"{src.name}: not translatable, use gate.tr: {b}" for b in bad]
        for k in keys:
            n_txt += 1
            if k not in i18n.TEXTS:
                missing.append(f"{src.name}: text {k!r} not in TEXTS")
    assert n_par > 50 and n_txt > 60
    assert not missing, "\n".join(missing)


def test_texts_have_the_same_fields_in_both_languages():
    import string
    for en, nb in i18n.TEXTS.items():
        fields = [sorted(f for _, f, _, _ in string.Formatter().parse(x) if f) for x in (en, nb)]
        assert fields[0] == fields[1], en


def test_text_formats_numbers_in_the_language():
    t = "Average effect by period (overall {est:.4f}, SE {se:.4f})"
    assert i18n.text(t, "en", est=-0.01234, se=0.5) == "Average effect by period (overall -0.0123, SE 0.5000)"
    assert i18n.text(t, "nb", est=-0.01234, se=0.5) == ("Gjennomsnittlig effekt etter periode (samlet -0,0123, "
                                                        "SE 0,5000)")
    assert i18n.text("Payments at price {price:,.0f}", "nb", price=15000) == "Utbetalinger ved pris 15\u202f000"
    assert i18n.number(0.123, ".1%", "nb") == "12,3\u00a0%"
    assert i18n.text("{outcome} by {group}", "nb", outcome="employed", group="arm") == "employed etter arm"
    with pytest.raises(i18n.TranslationError, match=r"'Brand new caption'.*TEXTS in evaluation/i18n.py"):
        i18n.text("Brand new caption", "nb")
    # plain texts the catalogue knows are translated as they are published; others (method names) kept
    assert i18n.lookup("Covariate balance", "nb") == "Balanse i kjennetegn"
    assert i18n.lookup("Lin (2013), HC2", "nb") == "Lin (2013), HC2"


def test_gate_publishes_captions_and_notes_in_the_language(capsys):
    import pandas as pd
    from evaluation.report import Gate
    gate = Gate(5, None, language="nb")
    gate.table(pd.DataFrame({"term": ["a"], "estimate": [0.5]}), [], caption="Covariate balance")
    gate.say(gate.tr("Truth inside the uniform band at {inside} of {n} event times", inside=7, n=9))
    out = capsys.readouterr().out
    assert "Balanse i kjennetegn" in out and "Covariate balance" not in out
    assert "i 7 av 9 hendelsestider" in out
    assert gate.ci(0.1234, -0.5, 1.25) == "0,123 (-0,500 til 1,250)"
    assert Gate(5, None).ci(0.1234, -0.5, 1.25) == "0.123 (-0.500 to 1.250)"


NN = ("Nearest-neighbour matching 1:1 without replacement, caliper 0.2 SD, exact on office, region, "
      "logit propensity score")
CASELOAD = ("Caseload of ALNA vs 20% reduction goal (counterfactual: comparison districts' caseload "
            "(never treated: NORDSTRAND, SONDRE_NORDSTRAND; not yet treated: none, each until it joins), "
            "chain-linked month to month and indexed to the pilot's mean caseload in the 3 months before start)")


def test_method_descriptions_in_the_language():
    """The estimators' method descriptions (matching, contracts, targets, caseload) are shown in
    bokmål through DESCRIPTIONS, whole or part by part; names and data as written; English as is."""
    d = i18n.description
    assert d(NN, "nb") == ("Nærmeste-nabo-matching 1:1 uten tilbakelegging, kaliper 0,2 SD, eksakt på "
                           "office, region, propensitetsskår (logit)")
    assert d(CASELOAD, "nb") == (
        "Saksmengden i ALNA mot målet om 20 % reduksjon (kontrafaktisk utvikling: saksmengden i "
        "sammenligningsbydelene (aldri med tiltaket: NORDSTRAND, SONDRE_NORDSTRAND; ennå ikke med tiltaket: "
        "ingen, hver til den innfører tiltaket), kjedet måned for måned og indeksert til pilotens "
        "gjennomsnittlige saksmengde de 3 månedene før start)")
    assert d("Targets vs achieved (95% Wilson / Clopper-Pearson)", "nb") == \
        "Mål og måloppnåelse (95 % Wilson / Clopper-Pearson)"
    assert d("matched comparison group (effective n 1234)", "nb") == \
        "matchet sammenligningsgruppe (effektiv n 1234)"   # as the estimator wrote it
    assert d(NN + "; effects on employed by horizon (HC2 SEs)", "nb").endswith(
        "propensitetsskår (logit); effekter på employed etter horisont (HC2-standardfeil)")
    assert d("Inverse probability weighting (ATT, probit propensity score, trimmed at 0.05)", "nb") == \
        "Invers sannsynlighetsvekting (ATT, propensitetsskår (probit), trimmet ved 0,05)"
    assert d("effect -1.538 (SE 0.5329) on on_social_assistance, overall ATT (recorded value x 12), from "
             "results.json: notebooks.03_did_rollout.headline", "nb") == (
        "effekt -1,538 (SE 0,5329) på on_social_assistance, overall ATT (registrert verdi x 12), fra "
        "results.json: notebooks.03_did_rollout.headline")
    for s in (NN, CASELOAD, "did", "employed, earnings"):
        assert d(s, "en") is s
    assert d("employed, earnings", "nb") == "employed, earnings"    # data: as written
    assert d(None, "nb") is None and d(0.5, "nb") == 0.5
    import string
    for en, nb in i18n.DESCRIPTIONS.items():                       # the same fields in both languages
        fields = [sorted(f for _, f, _, _ in string.Formatter().parse(x) if f) for x in (en, nb)]
        assert fields[0] == fields[1], en


def test_gate_shows_method_descriptions_in_the_language(capsys):
    import pandas as pd
    from evaluation.report import Gate
    gate = Gate(5, None, language="nb")
    gate.say(NN)
    gate.say("participants' outcomes minus the difference-in-differences effect estimate")
    gate.table(pd.DataFrame({"term": ["a"], "estimate": [0.5]}), [],
               caption="Targets vs achieved (95% Wilson / Clopper-Pearson)")
    cap = gate.tr("{method}: counterfactual {counterfactual}, uncertainty {uncertainty}",
                  method="Outcome contract: Bjerke (threshold)", counterfactual="matched", uncertainty="normal")
    out = capsys.readouterr().out
    assert "Nærmeste-nabo-matching 1:1 uten tilbakelegging" in out and "Nearest" not in out
    assert "deltakernes utfall minus effektestimatet" in out
    assert "Mål og måloppnåelse (95 % Wilson" in out and "Targets vs" not in out
    assert cap.startswith("Resultatkontrakt: Bjerke (threshold): ")
    en = Gate(5, None)
    en.say(NN)
    assert capsys.readouterr().out == NN + "\n"
    assert en.tr("{method}: counterfactual {counterfactual}, uncertainty {uncertainty}",
                 method="Outcome contract: B (threshold)", counterfactual="matched", uncertainty="normal") == \
        "Outcome contract: B (threshold): counterfactual matched, uncertainty normal"


def test_facet_titles_in_the_language():
    assert i18n.figure_text("icc = 0.05 | design = one pilot district", "nb") == "ICC = 0,05 | design = én pilotbydel"
    assert i18n.figure_text("icc = 0 | design = half the districts, staggered", "nb") == \
        "ICC = 0 | design = halvparten av bydelene, trinnvis"
    assert i18n.figure_text("icc = 0.05 | design = one pilot district", "en") == "icc = 0.05 | design = one pilot district"


def test_missing_translation_names_the_heading_and_the_file():
    with pytest.raises(i18n.TranslationError, match=r"'Brand new section'.*evaluation/i18n.py"):
        i18n.translate_markdown("## Brand new section", "nb")
    with pytest.raises(i18n.TranslationError, match="no message 'nope'"):
        i18n.t("nope", "nb")


def test_unknown_language_is_a_clear_error():
    with pytest.raises(ValueError, match=r"'nn' is not supported; use one of: en, nb"):
        i18n.check_language("nn")


def test_columns_translated_with_units_kept():
    assert i18n.column("earnings (NOK)", "nb") == "inntekt (NOK)"
    assert i18n.column("persons", "nb") == "personer"
    assert i18n.column("sa_months_24", "nb") == "sa_months_24"   # a data column: kept
    assert i18n.column("persons", "en") == "persons"
    # columns the analyses add are translated; a sample-flow table's step and stage stay distinct
    assert i18n.column("mean_treated", "nb") == "gj.snitt behandlet"
    assert i18n.column("true effect (synthetic)", "nb") == "sann effekt (syntetisk)"
    assert i18n.column("step", "nb") != i18n.column("stage", "nb")


def test_params_language_and_texts_per_language(tmp_path):
    d = yaml.safe_load((ROOT / "params" / "refino.yaml").read_text())
    d["language"] = "nb"
    d["title"] = {"en": "REFINO: results-based financing", "nb": "REFINO: resultatbasert finansiering"}
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(d))
    p = load_params(f)
    assert p.language == "nb" and p.title == "REFINO: resultatbasert finansiering"
    nbp = p.notebook_parameters(p.notebooks[0], tmp_path)
    assert nbp["language"] == "nb"
    d.pop("language")
    f.write_text(yaml.safe_dump(d))
    assert load_params(f).title == "REFINO: results-based financing"   # default en


def test_shipped_nb_params_read_in_bokmaal():
    nb_files = [f for f in sorted((ROOT / "params").glob("*.yaml"))
                if yaml.safe_load(f.read_text()).get("language") == "nb"]
    assert nb_files, "at least one shipped programme renders in bokmål"
    for f in nb_files:
        p = load_params(f)
        assert p.language == "nb" and p.title


def test_figures_drawn_by_the_package_are_translated_when_shown():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from evaluation.report import figure_alt, translate_figure
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="uniform band")
    ax.plot([0, 1], [1, 0], label="provider_A")
    ax.legend()
    ax.set_xlabel("months after start")
    ax.set_ylabel("cumulative outcome payments (NOK, rounded to 15,000)")
    ax.set_title("employed")
    translate_figure(fig, "nb")
    assert ax.get_xlabel() == "måneder etter start" and ax.get_title() == "employed"   # data kept
    assert ax.get_ylabel() == "kumulative resultatbetalinger (NOK, avrundet til 15\u202f000)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["uniformt bånd", "provider_A"]
    assert figure_alt(fig, "nb").startswith("Figur: employed, x: måneder etter start")
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert any("," in t for t in ticks) and not any("." in t for t in ticks)    # 0,2 0,4 ...
    plt.close(fig)


def test_estimator_warnings_become_notes_in_the_language(capsys):
    import warnings
    from evaluation.report import Gate

    def estimator():
        warnings.warn("Dropped 226 units while converting to a balanced panel (units not observed in all "
                      "48 periods). Pass allow_unbalanced_panel=True to keep them.")
        warnings.warn("Dropped 3 units that were already treated in the first period.")
        return 1

    assert Gate(5, None, language="nb").noted(estimator) == 1
    out = capsys.readouterr().out
    assert "Merknad: 226 enheter utelatt ved overgangen til et balansert panel" in out
    assert "Merknad: <5 enheter utelatt fordi de allerede hadde tiltaket" in out   # small count gated
    gate = Gate(5, None, language="nb")
    gate.note("no DiD effect given for ['benefit', 'earnings']: the counterfactual equals the participants' "
              "mean there (zero effect assumed)")
    gate.note("counterfactual payments assume the comparison group would have been mapped at the "
              "participants' mapping rate (85%); mapping is the provider's activity")
    out = capsys.readouterr().out
    assert "Merknad: ingen DiD-effekt oppgitt for ['benefit', 'earnings']: det kontrafaktiske" in out
    assert "som deltakerne (85 %); kartleggingen" in out
    Gate(5, None).noted(estimator)
    assert "Note: Dropped 226 units while converting" in capsys.readouterr().out


def test_uncaught_warnings_shown_as_notes_in_the_language():
    from evaluation import render
    text = ("/tmp/ipykernel_1/2.py:3: DiDWarning: Simultaneous critical value 13.7 is too large to be "
            "reliable (few units or clusters per group, or little variation in outcomes), as R did warns.\n"
            "  x = f()\n")
    out = render.tidy_stderr(text, "nb")
    assert out.startswith("Merknad (DiDWarning): Den simultane kritiske verdien 13,7 er for stor")
    assert "ipykernel" not in out and "x = f()" not in out
    assert render.tidy_stderr(text).startswith("Note (DiDWarning): Simultaneous critical value 13.7")
