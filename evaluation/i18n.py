"""The report's languages: English (``en``) and Norwegian bokmål (``nb``), in one place.

Everything a reader sees that the suite writes itself -- notebook headings and prose, table
captions and notes, the summary page's sentences, caveats, table headers, figure labels and
number formats -- is looked up here.  The notebooks are written in English and stay thin:

* :data:`MESSAGES` -- generated sentences and labels, keyed by a message id, one text per language;
* :data:`HEADINGS` -- the bokmål of every notebook heading (``## ...`` in ``notebooks/*.py``),
  keyed by the English heading, and :data:`PROSE` -- of every paragraph of a markdown cell, keyed
  by the English paragraph; the render translates markdown cells before a notebook runs
  (:func:`translate_notebook`);
* :data:`TEXTS` -- captions, notes and figure titles a notebook publishes from code, keyed by
  the English template: ``caption="Covariate balance"`` or ``gate.tr("Outcome means by {group}",
  group=group)`` (:func:`text`: fields filled in, numbers in the language's format); the gate's
  own notes under tables are :class:`Template` s and are translated the same way;
* :data:`FIGURE` -- titles, axis labels and legends the package's plot functions draw, translated
  as a figure is displayed in an nb report (``evaluation.report.translate_figure``);
* :data:`COLUMNS` -- table headers (column names of the package's tables) in bokmål;
* :func:`format_number` -- decimal comma and a non-breaking thousands separator in ``nb``.

A missing translation of a heading, paragraph or text is an error naming the text and this file
(tests check every heading, paragraph and caption of every notebook, and that a rendered bokmål
report shows none of the catalogue's English), never a silently English page.  Method
descriptions the estimators write stay English in the results; a report shows them in its language
through :data:`DESCRIPTIONS` (:func:`description`, used by the gate and the summary page).  Not
translated: data (column values, outcome and column names of the data) and the INDIGO export (the
standard's English terms).
"""
from __future__ import annotations

import functools
import math
import numbers
import re
import string
from typing import Any

#: Languages a report can be written in (``language:`` in a parameter file).
LANGUAGES = ("en", "nb")

#: Each language named in itself (the index pages link to each other by these names).
LANGUAGE_NAMES = {"en": "English", "nb": "Norsk (bokmål)"}

#: Thousands separator (narrow no-break space, so a number never breaks across lines).
THIN = "\u202f"


class TranslationError(KeyError):
    """A text has no entry in the catalogue for the requested language."""

    def __str__(self):  # KeyError quotes its message; show it plainly
        return str(self.args[0])


def check_language(language: str) -> str:
    """``language`` if supported, else a clear error listing the supported ones."""
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r} is not supported; use one of: "
                         f"{', '.join(LANGUAGES)} (en = English, nb = Norwegian bokmål)")
    return language


# ------------------------------------------------------------------------------------------
# generated sentences and labels
# ------------------------------------------------------------------------------------------
MESSAGES: dict[str, dict[str, str]] = {
    "summary": {"en": "Summary", "nb": "Sammendrag"},
    "headline": {"en": "Pre-specified headline result", "nb": "Forhåndsbestemt hovedresultat"},
    "who": {"en": "Who was evaluated", "nb": "Hvem som ble evaluert"},
    "main_figure": {"en": "Main figure", "nb": "Hovedfigur"},
    "caveats": {"en": "Caveats", "nb": "Forbehold"},
    "details": {"en": "Detailed reports", "nb": "Detaljerte rapporter"},
    "contents": {"en": "Contents", "nb": "Innhold"},
    "provenance": {"en": "Provenance", "nb": "Opphav"},
    "prov_plan": {"en": "the pre-specified plan this report follows",
                  "nb": "den forhåndsbestemte planen rapporten følger"},
    "prov_params": {"en": "parameter file", "nb": "parameterfil"},
    "prov_data": {"en": "data", "nb": "data"},
    "prov_package": {"en": "package", "nb": "programpakke"},
    "prov_commit": {"en": "git commit", "nb": "git-versjon"},
    "prov_rendered": {"en": "rendered", "nb": "laget"},
    "headline_pre": {"en": "Headline (pre-specified)", "nb": "Hovedresultat (forhåndsbestemt)"},
    "each_arm": {"en": "each arm against control", "nb": "hver gruppe mot kontrollgruppen"},
    "ci_level": {"en": "{level} % CI", "nb": "{level} % KI"},
    "from_notebook": {"en": "notebook {notebook}, result {key}", "nb": "notatbok {notebook}, resultat {key}"},
    "no_headline": {"en": "No pre-specified headline result is declared in the plan.",
                    "nb": "Planen angir ikke noe forhåndsbestemt hovedresultat."},
    "withheld": {"en": "The headline estimate is not published: {reason}",
                 "nb": "Hovedestimatet publiseres ikke: {reason}"},
    # the headline sentence: "<title> raised/lowered <outcome> by <size> (95 % CI lo to hi)"
    "raised": {"en": "raised", "nb": "økte"},
    "lowered": {"en": "lowered", "nb": "reduserte"},
    "unchanged": {"en": "did not change", "nb": "endret ikke"},
    "sentence": {"en": "{who} {verb} {what} by {size} ({level} % CI {lo} to {hi}); {tail}.",
                 "nb": "{who} {verb} {what} med {size} ({level} % KI {lo} til {hi}); {tail}."},
    "tail_null_trial": {"en": "the trial cannot rule out no effect",
                        "nb": "forsøket kan ikke utelukke at det ikke er noen effekt"},
    "tail_null": {"en": "the evaluation cannot rule out no effect",
                  "nb": "evalueringen kan ikke utelukke at det ikke er noen effekt"},
    "tail_sig": {"en": "the interval rules out no effect",
                 "nb": "intervallet utelukker at det ikke er noen effekt"},
    "share_of": {"en": "the share {outcome}", "nb": "andelen {outcome}"},
    "mean_of": {"en": "mean {outcome}", "nb": "gjennomsnittlig {outcome}"},
    "at_month": {"en": "at {month} months", "nb": "etter {month} måneder"},
    "unit_pp": {"en": "percentage points", "nb": "prosentpoeng"},
    "unit_per100": {"en": "events per 100 persons", "nb": "hendelser per 100 personer"},
    "n_persons": {"en": "{n} persons in the analysis", "nb": "{n} personer i analysen"},
    "flow_alt": {"en": "Bar chart of the sample flow: persons at each step of the selection",
                 "nb": "Stolpediagram over utvalget: personer i hvert trinn av utvelgingen"},
    "flow_none": {"en": "The sample flow was not recorded (the plan has no panel overview).",
                  "nb": "Utvalgsflyten ble ikke registrert (planen har ingen paneloversikt)."},
    "persons": {"en": "persons", "nb": "personer"},
    "figure_none": {"en": "The headline notebook draws no figure.",
                    "nb": "Notatboken med hovedresultatet har ingen figur."},
    # caveats
    "cav_synthetic": {"en": "The data are synthetic (generated by the suite's scenario '{scenario}'): "
                            "the numbers illustrate the method, they are not findings about the programme.",
                      "nb": "Dataene er syntetiske (laget av scenarioet '{scenario}'): tallene viser "
                            "metoden og er ikke funn om tiltaket."},
    "cav_matched": {"en": "A matched comparison assumes selection on observables: persons who took part "
                          "differ from their matched comparisons only in the registered characteristics "
                          "used for matching. Unmeasured differences (motivation, health) can bias the "
                          "effect; see the sensitivity analysis (Rosenbaum bounds, E-value).",
                    "nb": "En matchet sammenligning forutsetter seleksjon på observerbare kjennetegn: "
                          "deltakerne skiller seg fra sine sammenligningspersoner bare i de "
                          "registrerte kjennetegnene det er matchet på. Umålte forskjeller (motivasjon, "
                          "helse) kan gi skjeve effekter; se følsomhetsanalysen (Rosenbaum-grenser, E-verdi)."},
    "cav_did": {"en": "A staggered rollout compares areas that adopted the programme at different times: "
                      "the effect rests on parallel trends (the areas would have moved alike without the "
                      "programme); see the pre-trend tests and the HonestDiD sensitivity.",
                "nb": "En trinnvis innføring sammenligner områder som innførte tiltaket til ulike tider: "
                      "effekten hviler på parallelle trender (områdene ville ha utviklet seg likt uten "
                      "tiltaket); se testene av trender før start og HonestDiD-følsomheten."},
    "cav_few_clusters": {"en": "{n} {units}: standard errors from so few clusters are unreliable; "
                               "the headline's interval is from {how}.",
                         "nb": "{n} {units}: standardfeil fra så få klynger er upålitelige; "
                               "intervallet for hovedresultatet er fra {how}."},
    "unit_offices": {"en": "districts (NAV offices)", "nb": "bydeler (NAV-kontorer)"},
    "unit_districts": {"en": "districts", "nb": "bydeler"},
    "unit_areas": {"en": "areas", "nb": "områder"},
    "unit_counties": {"en": "counties", "nb": "fylker"},
    "unit_municipalities": {"en": "municipalities", "nb": "kommuner"},
    "unit_clusters": {"en": "clusters ({column})", "nb": "klynger ({column})"},
    "inference_randomization": {"en": "randomisation inference over the adoption dates",
                                "nb": "randomiseringsinferens over innføringstidspunktene"},
    "inference_wild": {"en": "the wild cluster bootstrap", "nb": "vill klynge-bootstrap"},
    "inference_cluster": {"en": "cluster-robust standard errors, pre-specified (read it with care)",
                          "nb": "klyngerobuste standardfeil, forhåndsbestemt (les det med forsiktighet)"},
    "overlap_title": {"en": "Overlap of the propensity score (diagnostic)",
                      "nb": "Overlapp i deltakersannsynligheten (diagnostikk)"},
    "overlap_text": {"en": "Participants and comparison persons before and after matching; the balance "
                           "checks are in the detailed report:",
                     "nb": "Deltakere og sammenligningspersoner før og etter matching; balansekontrollene "
                           "står i den detaljerte rapporten:"},
    "forest_alt": {"en": "Forest plot", "nb": "Skogplott"},
    "figure_alt": {"en": "Figure", "nb": "Figur"},
    "note": {"en": "Note", "nb": "Merknad"},
    "figure_untitled": {"en": "chart without title", "nb": "diagram uten tittel"},
    "own_unit": {"en": "own unit", "nb": "egen enhet"},
    "cav_rct": {"en": "Randomised as individuals: the comparison is fair by design, but the effect is the "
                      "effect of being offered the programme (intention to treat), not of taking part.",
                "nb": "Individuelt randomisert: sammenligningen er rettferdig ved design, men effekten er "
                      "effekten av å bli tilbudt tiltaket (intensjon om behandling), ikke av å delta."},
    "cav_disclosure": {"en": "Counts below {threshold} persons are suppressed, and estimates of fewer than "
                             "{min_n} persons are not published.",
                       "nb": "Antall under {threshold} personer er skjult, og estimater for færre enn "
                             "{min_n} personer publiseres ikke."},
    "cav_notes": {"en": "Notes recorded by the analysis:", "nb": "Merknader fra analysen:"},
    # index
    "index_title": {"en": "Evaluation reports", "nb": "Evalueringsrapporter"},
    "index_forest": {"en": "Pre-specified headline of every programme, with its 95 % interval",
                     "nb": "Forhåndsbestemt hovedresultat for hvert tiltak, med 95 % intervall"},
    "index_table": {"en": "All programmes: estimates with 95 % intervals (click a header to sort)",
                    "nb": "Alle tiltak: estimater med 95 % intervall (klikk en kolonne for å sortere)"},
    "index_star": {"en": "★ = the pre-specified headline outcome of the programme.",
                   "nb": "★ = tiltakets forhåndsbestemte hovedutfall."},
    "index_panels": {"en": "One panel per unit: effects on shares in percentage points, on money in NOK, "
                           "on counts in events per 100 persons, other outcomes in their own unit.",
                     "nb": "Ett panel per enhet: effekter på andeler i prosentpoeng, på beløp i kroner, "
                           "på antall i hendelser per 100 personer, andre utfall i egen enhet."},
    "no_estimates": {"en": "No estimates recorded yet.", "nb": "Ingen estimater registrert ennå."},
    "summary_link": {"en": "summary", "nb": "sammendrag"},
    "yes": {"en": "yes", "nb": "ja"},
    "to": {"en": "to", "nb": "til"},
    "no": {"en": "no", "nb": "nei"},
}


def t(msg_id: str, language: str = "en", **fields: Any) -> str:
    """The message ``msg_id`` in ``language`` with ``fields`` filled in."""
    check_language(language)
    if msg_id not in MESSAGES:
        raise TranslationError(f"no message {msg_id!r} in evaluation/i18n.py MESSAGES")
    entry = MESSAGES[msg_id]
    if language not in entry:
        raise TranslationError(f"message {msg_id!r} has no {language!r} text in evaluation/i18n.py "
                               "MESSAGES; add it there")
    return entry[language].format(**fields) if fields else entry[language]


# ------------------------------------------------------------------------------------------
# notebook headings (keyed by the English heading in notebooks/*.py)
# ------------------------------------------------------------------------------------------
HEADINGS: dict[str, str] = {
    "All pre-specified outcomes at the headline month": "Alle forhåndsbestemte utfall i hovedmåneden",
    "Attrition": "Frafall",
    "Balance": "Balanse",
    "Balance at baseline": "Balanse før start",
    "Callaway–Sant'Anna group-time effects (headline)": "Callaway–Sant'Anna gruppe-tid-effekter (hovedresultat)",
    "Candidate rules side by side": "Kandidatregler side om side",
    "Cash flows: provider, investor and public side": "Kontantstrømmer: leverandør, investor og offentlig side",
    "Compliance": "Etterlevelse",
    "Counterfactual": "Kontrafaktisk utvikling",
    "Cumulative outcomes": "Kumulative utfall",
    "Design inputs": "Grunnlag for designet",
    "Designing the contract before it is signed": "Utforming av kontrakten før den signeres",
    "Effects at horizons (headline)": "Effekter ved ulike tidshorisonter (hovedresultat)",
    "Effects by cohort and by calendar period": "Effekter etter kohort og kalenderperiode",
    "Effects month by month": "Effekter måned for måned",
    "Event study with uniform confidence bands": "Hendelsesstudie med uniforme konfidensbånd",
    "Few-cluster inference (pre-specified headline inference)":
        "Inferens med få klynger (forhåndsbestemt inferens for hovedresultatet)",
    "Synthetic control and synthetic DiD for the pilot district":
        "Syntetisk kontroll og syntetisk DiD for pilotbydelen",
    "How large must a district pilot be?": "Hvor stort må et bydelspilotprosjekt være?",
    "Goodman-Bacon decomposition of TWFE": "Goodman-Bacon-dekomponering av TWFE",
    "Headline: the pre-specified outcome": "Hovedresultat: det forhåndsbestemte utfallet",
    "Hidden bias: Rosenbaum bounds and the E-value": "Skjult skjevhet: Rosenbaum-grenser og E-verdien",
    "How much could a violation of parallel trends change the conclusion? (HonestDiD)":
        "Hvor mye kan brudd på parallelle trender endre konklusjonen? (HonestDiD)",
    "INDIGO export": "INDIGO-eksport",
    "Key numbers": "Nøkkeltall",
    "Matched comparison": "Matchet sammenligning",
    "Matched difference-in-differences": "Matchet forskjell-i-forskjeller",
    "Minimum detectable effect of the current trial": "Minste påviselige effekt i dette forsøket",
    "Outcome contract: payments, cash flows and who bears the risk":
        "Resultatkontrakt: utbetalinger, kontantstrømmer og hvem som bærer risikoen",
    "Outcome means": "Gjennomsnitt av utfall",
    "Outcomes behind the payments": "Utfallene bak utbetalingene",
    "Outcomes over calendar time": "Utfall over kalendertid",
    "Outcomes over event time (months since programme start)": "Utfall over hendelsestid (måneder siden tiltaksstart)",
    "Overlap": "Overlapp",
    "Panel overview": "Oversikt over panelet",
    "Payments and deadweight": "Utbetalinger og dødvekt",
    "Payments by month and cohort": "Utbetalinger etter måned og kohort",
    "Power": "Styrke",
    "Power of the pre-test (Roth 2022)": "Styrken til testen før start (Roth 2022)",
    "Pre-trend test": "Test av trender før start",
    "Probability of payment against the size of the true effect": "Sannsynlighet for utbetaling mot størrelsen på den sanne effekten",
    "Probability that the payment threshold is met": "Sannsynlighet for at terskelen for utbetaling nås",
    "Propensity model": "Modell for deltakersannsynlighet",
    "Provider payments under the staged 20/40/40 rule": "Utbetalinger til leverandør etter 20/40/40-regelen",
    "Randomised trial: intention-to-treat analysis": "Randomisert forsøk: analyse etter intensjon om behandling",
    "Raw trends by cohort": "Ujusterte trender etter kohort",
    "Robustness": "Robusthet",
    "Sample flow": "Utvalgsflyt",
    "Sensitivity": "Følsomhet",
    "Sensitivity of the settlement": "Følsomhet i oppgjøret",
    "Staggered rollout: difference-in-differences": "Trinnvis innføring: forskjell-i-forskjeller",
    "Subgroups": "Undergrupper",
    "TWFE vs Callaway–Sant'Anna vs Sun–Abraham": "TWFE mot Callaway–Sant'Anna mot Sun–Abraham",
    "Targets (activity and result targets, where the contract sets them)":
        "Mål (aktivitets- og resultatmål, der kontrakten setter dem)",
    "The chosen rule as INDIGO outcome pricing and payment plan": "Den valgte regelen som INDIGO-prising og betalingsplan",
    "The contract": "Kontrakten",
    "The investor": "Investoren",
    "The price per outcome from the counterfactual rate": "Prisen per resultat fra den kontrafaktiske raten",
    "The rollout": "Innføringen",
    "Trial design for the planned contract": "Forsøksdesign for den planlagte kontrakten",
    "Was the draw as designed?": "Ble trekningen gjort som planlagt?",
    "Who bears the risk": "Hvem som bærer risikoen",
    "Who is in the panel": "Hvem som er i panelet",
    "Whom each rule pays for": "Hvem hver regel betaler for",
}

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")


def heading(text: str, language: str) -> str:
    """The heading ``text`` (English, as written in a notebook) in ``language``."""
    return _catalogued(HEADINGS, "HEADINGS", text, text, language, f"notebook heading {text!r}")


def _catalogued(table: dict, name: str, key: str, text: str, language: str, what: str,
                hint: str = "") -> str:
    """``table[key]`` in a language other than English (``text`` itself in English); a missing
    entry is a :class:`TranslationError` that names the table to add it to."""
    check_language(language)
    if language == "en":
        return text
    if key not in table:
        raise TranslationError(f"{what} has no {language!r} translation; add it to {name} in "
                               f"evaluation/i18n.py{hint}")
    return table[key]


def _norm(text: str) -> str:
    """A paragraph as a catalogue key: whitespace runs collapsed (line breaks do not matter)."""
    return " ".join(str(text).split())


def paragraph(text: str, language: str) -> str:
    """A notebook paragraph (English, as written in ``notebooks/*.py``) in ``language``."""
    return _catalogued(PROSE, "PROSE", _norm(text), text, language, f"notebook paragraph {text[:70]!r}...",
                       " (keyed by the English paragraph; line breaks do not matter)")


def _blocks(source: str) -> list[tuple[str, list[str]]]:
    """Markdown split into ``("heading", [line])``, ``("para", lines)`` and ``("blank", [line])``."""
    out: list[tuple[str, list[str]]] = []
    for line in source.splitlines():
        kind = "heading" if _HEADING.match(line) else "blank" if not line.strip() else "para"
        if kind == "para" and out and out[-1][0] == "para":
            out[-1][1].append(line)
        else:
            out.append((kind, [line]))
    return out


def translate_markdown(source: str, language: str) -> str:
    """Markdown with every heading (:data:`HEADINGS`) and every paragraph (:data:`PROSE`)
    replaced by its translation; a text without one is an error naming it."""
    check_language(language)
    if language == "en":
        return source
    out = []
    for kind, lines in _blocks(source):
        if kind == "heading":
            m = _HEADING.match(lines[0])
            out.append(f"{m.group(1)} {heading(m.group(2), language)}")
        elif kind == "para":
            out.append(paragraph("\n".join(lines), language))
        else:
            out.append(lines[0])
    return "\n".join(out)


def translate_notebook(nb, language: str):
    """Translate every markdown cell of ``nb`` in place (before it runs) and return it: the
    notebooks are written in English and stay thin; their headings and prose are looked up here.
    Code and outputs are untouched (captions and notes are translated as they are published:
    :func:`text`, ``Gate.tr``)."""
    check_language(language)
    if language != "en":
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = translate_markdown(cell.source, language)
    return nb


def notebook_paragraphs(source: str) -> list[str]:
    """Prose paragraphs (not headings) of the markdown cells of a jupytext percent notebook."""
    out = []
    for cell in _markdown_cells(source):
        out += ["\n".join(lines) for kind, lines in _blocks(cell) if kind == "para"]
    return out


def _markdown_cells(source: str) -> list[str]:
    cells, cur = [], None
    for line in source.splitlines():
        if line.startswith("# %%"):
            if cur is not None:
                cells.append("\n".join(cur))
            cur = [] if "[markdown]" in line else None
        elif cur is not None and (line.startswith("# ") or line == "#"):
            cur.append(line[2:])
    if cur is not None:
        cells.append("\n".join(cur))
    return cells


# ------------------------------------------------------------------------------------------
# texts a notebook publishes: table captions, notes, figure titles (Gate.tr / Gate.table)
# ------------------------------------------------------------------------------------------
class Text(str):
    """A text already in the report's language (returned by :func:`text`); the gate publishes
    it as it is instead of looking it up again."""


class _Formatter(string.Formatter):
    """``str.format`` with numbers in the language's format: thousands separated by a narrow
    no-break space, a decimal comma and ``12,3 %`` in ``nb``."""

    def __init__(self, language: str):
        self.language = language

    def format_field(self, value, format_spec):
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            s = format(value, format_spec).replace(",", THIN)
            if self.language == "nb":
                s = s.replace(".", ",").replace("%", "\u00a0%")
            return s
        return super().format_field(value, format_spec)


def text(template: str, language: str = "en", **fields: Any) -> Text:
    """A caption, note or figure title: ``template`` (English, the catalogue key, with
    ``{field}`` placeholders and format specs) in ``language`` (:data:`TEXTS`), its fields
    filled in with numbers in the language's format.

    >>> text("Bacon decomposition (TWFE {est:.4f})", "nb", est=-0.01234)
    'Bacon-dekomponering (TWFE -0,0123)'
    """
    check_language(language)
    if language != "en":
        if template not in TEXTS:
            raise TranslationError(f"text {template!r} has no {language!r} translation; add it to "
                                   "TEXTS in evaluation/i18n.py (keyed by the English template)")
        template = TEXTS[template]
    return Text(_Formatter(language).format(template, **fields))


def number(x: Any, spec: str = "", language: str = "en") -> str:
    """``format(x, spec)`` in the language's number format (``number(0.123, ".1%", "nb")`` →
    ``"12,3 %"``)."""
    return _Formatter(check_language(language)).format_field(x, spec)


class Template(str):
    """An English text that keeps its template and fields (``TEXTS`` key), so that what the gate
    writes in English (its notes under a table) is shown in the report's language
    (:func:`localize`)."""

    def __new__(cls, template: str, **fields: Any):
        obj = super().__new__(cls, _Formatter("en").format(template, **fields))
        obj.template, obj.fields = template, fields
        return obj

    def __reduce__(self):                 # copies and pickles keep the template
        return (_template, (self.template, self.fields))


def _template(template: str, fields: dict) -> "Template":
    return Template(template, **fields)


def localize(value: Any, language: str) -> Any:
    """``value`` in ``language``: a :class:`Template` from its template, a plain text the
    catalogue knows (:func:`lookup`), anything else unchanged."""
    if isinstance(value, Template) and language != "en":
        return text(value.template, language, **value.fields)
    return lookup(value, language)


def lookup(value: Any, language: str) -> Any:
    """``value`` translated if it is a plain text the catalogue knows (:data:`TEXTS` without
    fields) or a method description (:func:`description`), else unchanged (data)."""
    if language == "en" or isinstance(value, Text) or not isinstance(value, str):
        return value
    if value in TEXTS and "{" not in value:
        return Text(TEXTS[value])
    return description(value, language)


def notebook_headings(source: str) -> list[str]:
    """Headings of a jupytext percent notebook (``# ## Heading`` lines in markdown cells)."""
    out, in_md = [], False
    for line in source.splitlines():
        if line.startswith("# %%"):
            in_md = "[markdown]" in line
            continue
        if in_md and line.startswith("# "):
            m = _HEADING.match(line[2:])
            if m:
                out.append(m.group(2))
    return out


# ------------------------------------------------------------------------------------------
# notebook prose (keyed by the English paragraph in notebooks/*.py; line breaks do not matter)
# ------------------------------------------------------------------------------------------
_PROSE: dict[str, str] = {
    # 01 panel overview
    """The register extracts linked by person id into one person-month panel: how many persons and
months each step kept, who they are, and how the outcomes move over calendar and event time.
Counts below the disclosure threshold are suppressed in every table and figure.""":
    """Registeruttrekkene koblet på personnummer til ett panel med én rad per person og måned: hvor
mange personer og måneder hvert trinn beholdt, hvem de er, og hvordan utfallene utvikler seg over
kalendertid og hendelsestid. Antall under terskelen for prikking er skjult i alle tabeller og figurer.""",
    """Every step from the extracts to the analysis panel, with the persons and person-months it
kept or excluded and why.""":
    """Hvert trinn fra uttrekkene til analysepanelet, med personene og personmånedene trinnet
beholdt eller utelot, og hvorfor.""",
    """Mean of each outcome over all observed person-months, by group.""":
    """Gjennomsnitt av hvert utfall over alle observerte personmåneder, etter gruppe.""",
    """Recorded in results.json; this cell's output is checked when reviewers re-run the notebook.""":
    """Lagret i results.json; utdataene fra denne cellen kontrolleres når kontrollører kjører
notatboken på nytt.""",
    # 02 trial
    """Persons were randomised as individuals to the programme arm(s) or ordinary follow-up.  This
report follows the pre-specified plan: checks that the draw was not manipulated and that the arms
are comparable, take-up by arm, the pre-specified headline outcome, effects month by month since
randomisation, subgroups, robustness, the power of the trial, and what a staged results-based
payment rule would have paid per arm.  Person ids are never shown; counts below the disclosure
threshold are suppressed.""":
    """Personene ble trukket enkeltvis til tiltaksgruppen(e) eller ordinær oppfølging. Rapporten
følger den forhåndsbestemte planen: kontroll av at trekningen ikke ble manipulert og at gruppene er
sammenlignbare, deltakelse etter gruppe, det forhåndsbestemte hovedutfallet, effekter måned for måned
siden trekningen, undergrupper, robusthet, forsøkets styrke, og hva en trinnvis resultatbasert
betalingsregel ville ha betalt per gruppe. Personnummer vises aldri; antall under terskelen for
prikking er skjult.""",
    """Assignment counts against the design shares (binomial test for two arms, chi-square otherwise,
and within randomisation strata).""":
    """Antall tildelt mot andelene i designet (binomisk test for to grupper, ellers kjikvadrattest,
og innenfor strata for trekningen).""",
    """Means by arm, standardised mean differences (|SMD| ≤ 0.1 is the strict rule) and variance
ratios; the joint test regresses the arm indicator on all covariates.""":
    """Gjennomsnitt etter gruppe, standardiserte gjennomsnittsforskjeller (|SMD| ≤ 0,1 er den strenge
regelen) og variansforhold; fellestesten regresserer gruppeindikatoren på alle kjennetegnene.""",
    """Share of persons without register data at the event month, by arm.""":
    """Andel personer uten registerdata i hendelsesmåneden, etter gruppe.""",
    """Take-up by arm.  The first stage (the difference in take-up) scales the intention-to-treat
effect to the effect on those who took part because of the draw (LATE, by 2SLS).""":
    """Deltakelse etter gruppe. Første trinn (forskjellen i deltakelse) skalerer effekten av å bli
tilbudt tiltaket til effekten for dem som deltok på grunn av trekningen (LATE, med 2SLS).""",
    """Intention to treat at the pre-specified month, adjusted for baseline covariates (Lin's
estimator, HC2 standard errors), beside the unadjusted difference in means.""":
    """Effekten av å bli tilbudt tiltaket (ITT) i den forhåndsbestemte måneden, justert for
kjennetegn før start (Lins estimator, HC2-standardfeil), ved siden av den ujusterte forskjellen i
gjennomsnitt.""",
    """One estimate per month since randomisation.  The dark band is the pointwise 95 % interval; the
light band is the uniform (sup-t) band that covers the whole path of monthly effects with 95 %
probability, so it is the one to read when looking for *any* month with an effect.""":
    """Ett estimat per måned siden trekningen. Det mørke båndet er det punktvise 95 %-intervallet;
det lyse båndet er det uniforme (sup-t) båndet som dekker hele forløpet av månedlige effekter med
95 % sannsynlighet, og det er dette som skal leses når man ser etter *en eller annen* måned med effekt.""",
    """Months in the outcome (e.g. months employed) within windows since randomisation.""":
    """Måneder i utfallet (for eksempel måneder i arbeid) innenfor perioder siden trekningen.""",
    """Family-wise adjusted p-values: Holm, and Romano–Wolf (which uses the correlation between the
outcomes and is less conservative).""":
    """p-verdier justert for multiple tester: Holm, og Romano–Wolf (som bruker korrelasjonen mellom
utfallene og er mindre konservativ).""",
    """Effects within subgroups and a test that the effect is the same in all levels of the subgroup.""":
    """Effekter innenfor undergrupper og en test av at effekten er den samme i alle nivåer av
undergruppen.""",
    """The headline estimate without covariates, with ANCOVA instead of Lin, with randomisation-area
fixed effects, and a randomisation-inference p-value that re-draws the assignment within areas.""":
    """Hovedestimatet uten kjennetegn, med ANCOVA i stedet for Lin, med faste effekter for
trekningsområde, og en p-verdi fra randomiseringsinferens som trekker tildelingen på nytt innenfor
områdene.""",
    """The minimum detectable effect of this trial for the headline outcome (80 % power, 5 % level),
with the control group's rate at the headline month and the R² of the baseline covariates, and
the number of persons needed to detect the target effect.""":
    """Minste påviselige effekt i dette forsøket for hovedutfallet (80 % styrke, 5 % nivå), med
kontrollgruppens rate i hovedmåneden og R² for kjennetegnene før start, og antall personer som
trengs for å påvise måleffekten.""",
    """What the results-based rule pays per arm: 20 % of the price for the initial mapping, 40 % at the
first month employed in at least a 50 % position after the start, 40 % when the job is kept six
months.  Payments in the control arm show what the rule would pay for outcomes that happen anyway.""":
    """Hva den resultatbaserte regelen betaler per gruppe: 20 % av prisen for den innledende
kartleggingen, 40 % den første måneden i arbeid i minst 50 % stilling etter start, 40 % når jobben er
beholdt i seks måneder. Utbetalingene i kontrollgruppen viser hva regelen ville betale for resultater
som kommer uansett.""",
    """The headline numbers recorded in results.json, rounded; reviewers' re-runs are output-checked
against this cell (nbval).""":
    """Hovedtallene som er lagret i results.json, avrundet; når kontrollører kjører notatboken på
nytt, kontrolleres utdataene mot denne cellen (nbval).""",
    # 03 rollout
    """The programme started in a pilot district and other districts joined later, so each district's
recipients form a *cohort* by the period their office adopted it; districts that never adopted
are the comparison group. With adoption at different times and effects that grow with exposure,
the classic two-way fixed-effects (TWFE) regression can be badly misleading. This report shows the
rollout, the raw trends, and then compares TWFE with the Callaway–Sant'Anna group-time estimator
(the pre-specified headline) and the Sun–Abraham event study, with a pre-trend test, group and
calendar effects, and the Goodman-Bacon decomposition that explains where TWFE goes wrong.
Counts below the disclosure threshold are suppressed in every table; no person ids are shown.""":
    """Tiltaket startet i en pilotbydel, og andre bydeler kom til senere, så mottakerne i hver bydel
danner en *kohort* etter perioden da kontoret deres innførte tiltaket; bydeler som aldri innførte det,
er sammenligningsgruppen. Når tiltaket innføres til ulike tider og effektene vokser med tiden i
tiltaket, kan den klassiske regresjonen med faste effekter i to dimensjoner (TWFE) villede kraftig.
Rapporten viser innføringen og de ujusterte trendene, og sammenligner deretter TWFE med
Callaway–Sant'Annas gruppe-tid-estimator (det forhåndsbestemte hovedresultatet) og Sun–Abrahams
hendelsesstudie, med test av trender før start, effekter etter gruppe og kalendertid, og
Goodman-Bacon-dekomponeringen som forklarer hvor TWFE går galt. Antall under terskelen for prikking
er skjult i alle tabeller; ingen personnummer vises.""",
    """Which districts had the programme in which period (1 = adopted), and how many recipients each
district contributes.""":
    """Hvilke bydeler som hadde tiltaket i hvilken periode (1 = innført), og hvor mange mottakere hver
bydel bidrar med.""",
    """Mean outcome by adoption cohort; dashed lines mark each cohort's first treated period.""":
    """Gjennomsnittlig utfall etter innføringskohort; stiplede linjer markerer hver kohorts første
periode med tiltaket.""",
    """ATT(g,t) for every cohort and period, with the pre-specified control group, estimation method
and clustering; the headline is the simple aggregate (post-treatment ATT(g,t) weighted by cohort
size). Standard errors are clustered as pre-specified; with few clusters (here districts, each
cohort being one district) cluster-robust standard errors and bands are unreliable, so the
person-level standard error is shown alongside and the pre-test is also reported at person level.""":
    """ATT(g,t) for hver kohort og periode, med forhåndsbestemt kontrollgruppe, estimeringsmetode og
klynging; hovedresultatet er det enkle aggregatet (ATT(g,t) etter start, vektet med kohortens
størrelse). Standardfeilene er klynget som forhåndsbestemt; med få klynger (her bydeler, der hver
kohort er én bydel) er klyngerobuste standardfeil og bånd upålitelige, så standardfeilen på
personnivå vises ved siden av, og testen før start rapporteres også på personnivå.""",
    """With a handful of districts, intervals built from cluster-robust variances are unreliable (when
every adoption cohort is one district they rest on the comparison districts alone). The same
headline estimate with three kinds of inference: cluster-robust, the restricted wild cluster
bootstrap of its equivalent regression, and randomisation inference that permutes the
districts' adoption dates (exact over all distinct assignments; the confidence set inverts
sharp nulls of a constant effect). The parameter file declares which one is the headline.""":
    """Med en håndfull bydeler er intervaller bygget på klyngerobuste varianser upålitelige (når hver
innføringskohort er én bydel, hviler de på sammenligningsbydelene alene). Det samme hovedestimatet
med tre slags inferens: klyngerobust, restriktiv vill klynge-bootstrap av den tilsvarende regresjonen,
og randomiseringsinferens som permuterer bydelenes innføringstidspunkter (eksakt over alle ulike
tildelinger; konfidensmengden inverterer skarpe nullhypoteser om en konstant effekt).
Parameterfilen angir hvilken som er hovedresultatet.""",
    """One number per method (post-treatment average) and the event-study profiles side by side; the
imputation estimator fits person and period effects on untreated person-periods only (its
standard error is by person: with one district per cohort, its district-clustered variance would
count district shocks as effect heterogeneity and be far too small). TWFE
uses already-treated districts as controls for later ones, which biases it when effects grow
over time. The caseload row treats each month's recipients as a repeated cross-section
(`panel=False`): it uses every person-month, including recipients not observed in every month
(whom the panel estimator drops), with standard errors clustered by person.""":
    """Ett tall per metode (gjennomsnitt etter start) og hendelsesstudiene side om side;
imputeringsestimatoren tilpasser person- og periodeeffekter bare på personperioder uten tiltaket
(standardfeilen er på personnivå: med én bydel per kohort ville variansen klynget på bydel regne
sjokk i bydelene som variasjon i effekten og bli altfor liten). TWFE bruker bydeler som allerede har
tiltaket, som kontroller for senere bydeler, noe som gir skjevhet når effektene vokser over tid.
Raden for saksmengden behandler hver måneds mottakere som gjentatte tverrsnitt (`panel=False`): den
bruker alle personmåneder, også mottakere som ikke er observert hver måned (som panelestimatoren
utelater), med standardfeil klynget på person.""",
    """Callaway–Sant'Anna event-time effects with pointwise 95 % intervals and a simultaneous band
(multiplier bootstrap, sup-t critical value) that covers all event times jointly.""":
    """Callaway–Sant'Annas effekter etter hendelsestid med punktvise 95 %-intervaller og et simultant
bånd (multiplikator-bootstrap, sup-t kritisk verdi) som dekker alle hendelsestider samtidig.""",
    """Wald test that all pre-treatment ATT(g,t) are zero (Callaway–Sant'Anna), and the joint test of the
TWFE event-study leads. A rejection warns that the comparison districts may not show the
treated districts' counterfactual trend.""":
    """Wald-test av at alle ATT(g,t) før start er null (Callaway–Sant'Anna), og fellestesten av
ledd før start i TWFE-hendelsesstudien. En forkastning varsler om at sammenligningsbydelene kanskje
ikke viser den kontrafaktiske trenden til bydelene med tiltaket.""",
    """Passing a pre-test does not show that trends are parallel after adoption. Following Rambachan &
Roth (2023), the average effect over event times 0–3 is given a confidence set that stays valid
when the post-adoption violation of parallel trends is at most M̄ times the largest pre-adoption
one (relative magnitudes, left) or when its slope changes by at most M per period (smoothness,
right). The breakdown value is the largest M̄ (M) at which the set still excludes zero. The event
study uses a universal base period (e = −1), as HonestDiD requires, and the person-level
covariance: with six districts the district-clustered covariance of seven coefficients is singular.""":
    """At en test før start ikke forkaster, viser ikke at trendene er parallelle etter innføringen.
Etter Rambachan & Roth (2023) får gjennomsnittseffekten over hendelsestid 0–3 en konfidensmengde
som er gyldig når bruddet på parallelle trender etter innføringen er høyst M̄ ganger det største
bruddet før innføringen (relative størrelser, til venstre), eller når helningen endres med høyst M
per periode (glatthet, til høyre). Bruddverdien er den største M̄ (M) der mengden fortsatt utelukker
null. Hendelsesstudien bruker en felles referanseperiode (e = −1), slik HonestDiD krever, og
kovariansen på personnivå: med seks bydeler er den bydelsklyngede kovariansen til sju koeffisienter
singulær.""",
    """How steep a linear violation of parallel trends would the pre-test (no pre-adoption coefficient
significant) detect half the time, or 80 % of the time? Against the 80 % slope, the table shows
the bias the event-study estimates would carry if the true effect were zero, unconditionally and
among event studies that pass the pre-test.""":
    """Hvor bratt må et lineært brudd på parallelle trender være for at testen før start (ingen
koeffisient før innføringen signifikant) skal oppdage det halvparten av gangene, eller 80 % av
gangene? Mot helningen med 80 % styrke viser tabellen skjevheten hendelsesstudiens estimater ville
ha hvis den sanne effekten var null, uten betingelse og blant hendelsesstudier som består testen.""",
    """The TWFE estimate is a weighted average of all 2x2 comparisons. "Later vs earlier treated" uses
already-treated districts as controls: when effects grow with exposure these comparisons are
biased (even of the wrong sign). The decomposition needs a balanced panel, so it uses the
recipients observed in every period.""":
    """TWFE-estimatet er et vektet gjennomsnitt av alle 2x2-sammenligninger. «Senere mot tidligere
behandlet» bruker bydeler som allerede har tiltaket, som kontroller: når effektene vokser med tiden i
tiltaket, er disse sammenligningene skjeve (til og med med feil fortegn). Dekomponeringen krever et
balansert panel og bruker derfor mottakerne som er observert i alle perioder.""",
    """The pilot district against a weighted combination of the other districts (district means of the
outcome), in the months before the next district adopted: synthetic control (Abadie, Diamond &
Hainmueller 2010) and synthetic difference-in-differences (Arkhangelsky et al. 2021). With only
a few comparison districts the placebo test (each comparison district in turn as the "pilot")
cannot reach conventional significance: its smallest p-value is 1/(districts).""":
    """Pilotbydelen mot en vektet kombinasjon av de andre bydelene (bydelsgjennomsnitt av utfallet),
i månedene før neste bydel innførte tiltaket: syntetisk kontroll (Abadie, Diamond & Hainmueller
2010) og syntetisk forskjell-i-forskjeller (Arkhangelsky mfl. 2021). Med bare noen få
sammenligningsbydeler kan placebotesten (hver sammenligningsbydel etter tur som «pilot») ikke nå
vanlige signifikansnivåer: den minste p-verdien er 1/(antall bydeler).""",
    # 04 matched
    """The programme chose its participants, so there is no control arm. As the UK Employment and
Justice Data Labs do, a comparison group is built from the register pool by propensity-score
matching on characteristics and pre-programme histories; effects are shown as ranges (95 %
confidence intervals) at several horizons after entry, with a pre-specified headline outcome.
Counts below the disclosure threshold are suppressed in every table.""":
    """Tiltaket valgte selv deltakerne, så det finnes ingen kontrollgruppe. Slik de britiske
Employment og Justice Data Labs gjør, bygges en sammenligningsgruppe fra registerpopulasjonen ved
matching på deltakersannsynlighet (propensity score) etter kjennetegn og historikk før tiltaket;
effektene vises som intervaller (95 % konfidensintervaller) ved flere tidspunkter etter start, med et
forhåndsbestemt hovedutfall. Antall under terskelen for prikking er skjult i alle tabeller.""",
    """Participants and the comparison pool, every exclusion with its reason. The analysis stops here
if fewer participants than the pre-specified minimum are available (Justice Data Lab: 60).""":
    """Deltakerne og sammenligningspopulasjonen, hver utelatelse med sin grunn. Analysen stopper her
hvis det er færre deltakere enn det forhåndsbestemte minimum (Justice Data Lab: 60).""",
    """Logit of participation on characteristics and pre-programme histories (coefficients on the
log-odds scale).""":
    """Logit for deltakelse på kjennetegn og historikk før tiltaket (koeffisienter på
log-odds-skala).""",
    """Distribution of the propensity score among participants and the comparison pool, before and
after matching.""":
    """Fordelingen av deltakersannsynligheten blant deltakerne og i sammenligningspopulasjonen, før
og etter matching.""",
    """Standardised mean differences (|SMD| ≤ 0.1 strict, ≤ 0.25 acceptable) and variance ratios
(0.5–2) before and after matching.""":
    """Standardiserte gjennomsnittsforskjeller (|SMD| ≤ 0,1 streng, ≤ 0,25 akseptabel) og
variansforhold (0,5–2) før og etter matching.""",
    """Effect on the participants (ATT): weighted regression in the matched sample with standard
errors clustered on the matched pair (CR2). Ranges are 95 % confidence intervals.""":
    """Effekt for deltakerne (ATT): vektet regresjon i det matchede utvalget med standardfeil klynget
på det matchede paret (CR2). Intervallene er 95 % konfidensintervaller.""",
    """Participants matched to comparison persons on pre-programme histories only (months on social
assistance and employed in the 12 and 24 months before entry, earnings), within office; then
the difference in outcome paths relative to the year before entry. Pre-entry estimates near
zero support the comparison.""":
    """Deltakerne matchet med sammenligningspersoner bare på historikk før tiltaket (måneder med
sosialhjelp og i arbeid de 12 og 24 månedene før start, inntekt), innenfor kontor; deretter
forskjellen i utfallsforløp relativt til året før start. Estimater nær null før start støtter
sammenligningen.""",
    """The headline estimate under other matching choices (caliper, ratio, replacement, Mahalanobis
distance) and other methods (inverse probability weighting, entropy balancing).""":
    """Hovedestimatet med andre valg i matchingen (caliper, forhold, tilbakelegging,
Mahalanobis-avstand) og andre metoder (invers sannsynlighetsvekting, entropibalansering).""",
    """Matching balances what is measured; an unmeasured difference between participants and their
matched comparison persons could still explain the headline. Rosenbaum bounds ask how large it
would have to be: within a matched pair the odds of participation may differ by a factor Γ, and
the table gives the largest one-sided p-value of Wilcoxon's signed-rank test on the pair
differences that such a bias allows; the result stays significant at 5 % up to the critical Γ
(pairs without an observed outcome are left out). The E-value (VanderWeele & Ding 2017) is the
risk ratio an unmeasured confounder would need with both participation and the outcome to
explain the headline away, here through the standardised mean difference (RR ≈ exp(0.91 d)).""":
    """Matching balanserer det som er målt; en umålt forskjell mellom deltakerne og deres matchede
sammenligningspersoner kan likevel forklare hovedresultatet. Rosenbaum-grenser spør hvor stor den
måtte være: innenfor et matchet par kan oddsen for deltakelse avvike med en faktor Γ, og tabellen
gir den største ensidige p-verdien i Wilcoxons fortegnsrangtest på parforskjellene som en slik
skjevhet tillater; resultatet forblir signifikant på 5 %-nivå opp til den kritiske Γ (par uten
observert utfall utelates). E-verdien (VanderWeele & Ding 2017) er risikoforholdet en umålt
forstyrrende faktor måtte ha med både deltakelse og utfall for å forklare bort hovedresultatet, her
via den standardiserte gjennomsnittsforskjellen (RR ≈ exp(0,91 d)).""",
    # 05 contract
    """The contract's payment rules (from the params file) applied to the participants' register
outcomes month by month, against the counterfactual the params file names: what the public side
pays and when, what it would have paid with no true effect (deadweight), what it gains, and how
likely the investor is to be repaid. Counts below the disclosure threshold are suppressed.""":
    """Kontraktens betalingsregler (fra parameterfilen) brukt på deltakernes registerutfall måned
for måned, mot den kontrafaktiske sammenligningen parameterfilen angir: hva det offentlige betaler
og når, hva det ville ha betalt uten noen sann effekt (dødvekt), hva det vinner, og hvor sannsynlig
det er at investoren får tilbakebetalt. Antall under terskelen for prikking er skjult.""",
    """`rct_control` uses the control arm; `matched` a propensity-score matched comparison group
(options `matching`); `did` a difference-in-differences effect estimate and `historical` a
baseline (options `effect` / `baseline`). An effect given as `{from_results: "<notebook>.<key>"}`
is the estimate an earlier notebook of this report recorded in results.json.""":
    """`rct_control` bruker kontrollgruppen; `matched` en sammenligningsgruppe matchet på
deltakersannsynlighet (valgene `matching`); `did` et effektestimat fra forskjell-i-forskjeller og
`historical` et historisk nivå (valgene `effect` / `baseline`). En effekt oppgitt som
`{from_results: "<notebook>.<key>"}` er estimatet en tidligere notatbok i denne rapporten lagret i
results.json.""",
    """Persons reaching each payable outcome within the contract window, participants against the
counterfactual group, and the per-participant means the settlement uses.""":
    """Personer som når hvert betalbart resultat innenfor kontraktsperioden, deltakerne mot den
kontrafaktiske gruppen, og gjennomsnittene per deltaker som oppgjøret bruker.""",
    """`payment` is what the rule pays on the observed outcomes; `deadweight` what it would pay in
expectation if the programme had no true effect; the ranges are the central 95 % of the
draws.""":
    """`payment` er det regelen betaler for de observerte resultatene; `deadweight` (dødvekt) det den
ville betale i forventning hvis tiltaket ikke hadde noen sann effekt; intervallene er de midterste
95 % av trekningene.""",
    """Distribution of the total payment under the estimated effect and under zero true effect, the
probability that the investor is repaid or earns a return, and the break-even effect sizes.""":
    """Fordelingen av samlet utbetaling med den estimerte effekten og uten noen sann effekt,
sannsynligheten for at investoren får tilbakebetalt eller avkastning, og effektstørrelsene der det
går i balanse.""",
    """Shares of the participants reaching each target within the contract window, with 95 % intervals;
then the social-assistance caseload of the pilot against the reduction goal and the
counterfactual trend named below the table.""":
    """Andeler av deltakerne som når hvert mål innenfor kontraktsperioden, med 95 %-intervaller;
deretter pilotens saksmengde med sosialhjelp mot reduksjonsmålet og den kontrafaktiske trenden som
er angitt under tabellen.""",
    """The contract and its results in the GO Lab INDIGO data standard's terms (outcome metrics,
pricing, results, payments, investments), written next to the report.""":
    """Kontrakten og resultatene i begrepene til GO Labs datastandard INDIGO (resultatmål, prising,
resultater, utbetalinger, investeringer), skrevet ved siden av rapporten.""",
    # 06 trial design
    """How many participants are needed for the contract's payment threshold to be detectable? The
counterfactual mean and spread of the contract's primary outcome come from the current data;
the probability that the estimate beats the margin, the power of a significance test and the
minimum detectable effect are shown for a range of trial sizes and true effects
(normal approximation; `evaluation.rct` power functions for the test).""":
    """Hvor mange deltakere trengs for at kontraktens betalingsterskel skal kunne påvises? Det
kontrafaktiske gjennomsnittet og spredningen i kontraktens primære utfall kommer fra dagens data;
sannsynligheten for at estimatet slår marginen, styrken til en signifikanstest og minste påviselige
effekt vises for en rekke forsøksstørrelser og sanne effekter (normaltilnærming; styrkefunksjonene i
`evaluation.rct` for testen).""",
    """Primary quantity of the contract (per participant over the window), its counterfactual mean
and standard deviation, and the payment margin (relative improvement the contract requires).""":
    """Kontraktens primære størrelse (per deltaker over perioden), dens kontrafaktiske gjennomsnitt
og standardavvik, og betalingsmarginen (den relative forbedringen kontrakten krever).""",
    """Two-sided test at 5 %, power 80 % (`evaluation.rct.mde`), in outcome units and relative to the
counterfactual mean, beside the payment margin.""":
    """Tosidig test på 5 %-nivå, styrke 80 % (`evaluation.rct.mde`), i utfallets enhet og relativt
til det kontrafaktiske gjennomsnittet, ved siden av betalingsmarginen.""",
    """For each true relative effect: the chance that the estimate beats the margin at each trial size,
and the size at which that chance reaches 80 %. A true effect equal to the margin is met only
half the time however large the trial.""":
    """For hver sann relativ effekt: sjansen for at estimatet slår marginen ved hver
forsøksstørrelse, og størrelsen der sjansen når 80 %. En sann effekt lik marginen nås bare
halvparten av gangene, uansett hvor stort forsøket er.""",
    """Power of a difference-in-differences evaluation when the programme is rolled out by district
(one pilot district, or half of the districts in a staggered rollout), by simulation
(`evaluation.did.did_power`): persons per district and months as in the plan, outcome SD and
persistence from the current panel, the district intra-cluster correlation assumed (the
panel's own estimate is shown). Tests: cluster-robust t, wild cluster bootstrap (WCR) and
randomisation inference over adoption dates; the last cannot reject with a single pilot
district unless there are at least 20 districts (its smallest p-value is 1/districts). With one
treated district the cluster-robust test is not valid (its 95 % intervals cover only 63-67 % in
benchmarks/results/few_clusters.json), so its rejection rate there is not a power, and the wild
bootstrap with one treated cluster is very conservative.""":
    """Styrken til en evaluering med forskjell-i-forskjeller når tiltaket innføres bydel for bydel
(én pilotbydel, eller halvparten av bydelene i en trinnvis innføring), ved simulering
(`evaluation.did.did_power`): personer per bydel og måneder som i planen, standardavvik og varighet
i utfallet fra dagens panel, og en antatt korrelasjon innenfor bydel (panelets eget estimat vises).
Tester: klyngerobust t, vill klynge-bootstrap (WCR) og randomiseringsinferens over
innføringstidspunkter; den siste kan ikke forkaste med én pilotbydel med mindre det er minst 20
bydeler (den minste p-verdien er 1/antall bydeler). Med én bydel med tiltaket er den klyngerobuste
testen ikke gyldig (95 %-intervallene dekker bare 63–67 % i benchmarks/results/few_clusters.json),
så forkastningsraten der er ikke en styrke, og vill bootstrap med én klynge med tiltaket er svært
konservativ.""",
    # 07 contract design
    """Candidate payment rules (the params file's `design:` section) compared on the programme's data
and counterfactual: what each would pay, how much of that would have been paid with no true
effect (deadweight), how likely it is to pay for nothing and to pay nothing for a real effect,
what it means for the public side and the investor, whom it pays for, and how its settlement
moves with the counterfactual and the evaluation window. Counts below the disclosure threshold
are suppressed.""":
    """Kandidater til betalingsregel (delen `design:` i parameterfilen) sammenlignet på tiltakets
data og kontrafaktiske sammenligning: hva hver regel ville betale, hvor mye av det som ville blitt
betalt uten noen sann effekt (dødvekt), hvor sannsynlig det er at den betaler for ingenting og ikke
betaler noe for en reell effekt, hva den betyr for det offentlige og for investoren, hvem den betaler
for, og hvordan oppgjøret endres med den kontrafaktiske sammenligningen og evalueringsperioden.
Antall under terskelen for prikking er skjult.""",
    """For each rule: the payment on the observed outcomes and in expectation over bootstrap draws of
the participants; the deadweight (expected payment if the programme had no true effect) and its
share of the expected payment and of the payment at the stated true effect; the probability of
paying anything with no effect, and of paying nothing for the stated effect; the public side's
net benefit; the investor's median money multiple and internal rate of return.""":
    """For hver regel: utbetalingen for de observerte resultatene og i forventning over
bootstrap-trekninger av deltakerne; dødvekten (forventet utbetaling hvis tiltaket ikke hadde noen
sann effekt) og dens andel av forventet utbetaling og av utbetalingen ved den oppgitte sanne
effekten; sannsynligheten for å betale noe uten effekt, og for å ikke betale noe for den oppgitte
effekten; nettogevinsten for det offentlige; investorens median pengemultippel og internrente.""",
    """How likely each rule is to pay anything when the programme's true effect is zero, the stated
size, or a multiple of it (the same draws, with the participants moved onto the
counterfactual plus the effect).""":
    """Hvor sannsynlig det er at hver regel betaler noe når tiltakets sanne effekt er null, den
oppgitte størrelsen eller et multiplum av den (de samme trekningene, med deltakerne flyttet til den
kontrafaktiske utviklingen pluss effekten).""",
    """The investor's internal rate of return over the draws (repayments follow each rule's payment
profile; capital and return as in `design.investor`).""":
    """Investorens internrente over trekningene (tilbakebetalingene følger hver regels
betalingsprofil; kapital og avkastning som i `design.investor`).""",
    """The price at which the public side breaks even for the effect the commissioner hopes for,
capped by the budget, at the counterfactual rate and at the ends of its 95 % interval.""":
    """Prisen der det offentlige går i balanse for effekten oppdragsgiveren håper på, begrenset av
budsjettet, ved den kontrafaktiske raten og ved endene av 95 %-intervallet.""",
    """By baseline group: the payment per participant, the part that would have been paid with no
effect (the counterfactual group's outcomes), and the part the effect earns. A rule paying most
where outcomes happen anyway invites cream-skimming; one paying little for the hardest group
invites parking. The re-priced rule pays group-specific prices that make the no-effect payment
the same per participant in every group.""":
    """Etter gruppe før start: utbetalingen per deltaker, delen som ville blitt betalt uten effekt
(den kontrafaktiske gruppens resultater), og delen effekten tjener inn. En regel som betaler mest der
resultatene kommer uansett, inviterer til fløteskumming; en som betaler lite for den vanskeligste
gruppen, inviterer til parkering. Den omprisede regelen betaler gruppespesifikke priser som gjør
utbetalingen uten effekt lik per deltaker i alle grupper.""",
    """The payment each rule would settle at under other counterfactuals and evaluation windows, and
what it would pay with no effect under each.""":
    """Utbetalingen hver regel ville gi i oppgjøret med andre kontrafaktiske sammenligninger og
evalueringsperioder, og hva den ville betale uten effekt i hvert tilfelle.""",
    """Checked when reviewers re-run the notebook (nbval).""":
    """Kontrolleres når kontrollører kjører notatboken på nytt (nbval).""",
}
#: The bokmål of every notebook paragraph, keyed by the English paragraph (whitespace collapsed).
PROSE: dict[str, str] = {_norm(k): _norm(v) for k, v in _PROSE.items()}


# ------------------------------------------------------------------------------------------
# captions, notes and figure titles of the notebooks (keyed by the English template)
# ------------------------------------------------------------------------------------------
#: ``gate.tr("<English>", **fields)`` and constant ``caption="<English>"`` in notebooks/*.py:
#: the bokmål template, with the same ``{fields}`` (tests check both).
TEXTS: dict[str, str] = {
    # 01 panel overview
    "Sample flow": "Utvalgsflyt",
    "persons: {persons}, person-months: {person_months}": "personer: {persons}, personmåneder: {person_months}",
    "Persons and their characteristics by {group}": "Personer og kjennetegn etter {group}",
    "Outcome means by {group}": "Gjennomsnitt av utfall etter {group}",
    "{outcome} by {group}": "{outcome} etter {group}",
    # 02 trial
    "Assignment by arm": "Tildeling etter gruppe",
    "Tests of the assignment shares": "Tester av tildelingsandelene",
    "Balance of baseline covariates": "Balanse i kjennetegn før start",
    "Joint test of balance": "Felles test av balanse",
    "Attrition by arm": "Frafall etter gruppe",
    "Participation by arm": "Deltakelse etter gruppe",
    "ITT on the pre-specified outcomes": "ITT på de forhåndsbestemte utfallene",
    "ITT by subgroup": "ITT etter undergruppe",
    "Interaction tests": "Samspillstester",
    "Headline estimate under alternative specifications": "Hovedestimatet med alternative spesifikasjoner",
    "Minimum detectable effect and power": "Minste påviselige effekt og styrke",
    "Headline: {outcome} at month {month}": "Hovedresultat: {outcome} i måned {month}",
    "ITT on months of {outcome}": "ITT på antall måneder med {outcome}",
    "Payments at price {price:,.0f}": "Utbetalinger ved pris {price:,.0f}",
    "Effect on {outcome}": "Effekt på {outcome}",
    # 03 rollout
    "Districts, adoption period (empty = never) and recipients":
        "Bydeler, periode for innføring (tom = aldri) og mottakere",
    "Post-treatment effect by method": "Effekt etter start, etter metode",
    "Event-time effects": "Effekter etter hendelsestid",
    "Pre-trend tests": "Tester av trender før start",
    "Slope of a linear violation (per period) detected with the given power":
        "Helning på et lineært brudd (per periode) som oppdages med gitt styrke",
    "Headline ATT on {outcome}: {ci} (SE {se:.4f}{clustered}; person-level SE {se_person:.4f}); {n} persons":
        "Hovedresultat ATT på {outcome}: {ci} (SE {se:.4f}{clustered}; SE på personnivå {se_person:.4f}); "
        "{n} personer",
    ", clustered by {cluster}": ", klynget på {cluster}",
    "TWFE event study (binned end points)": "TWFE-hendelsesstudie (samlede endepunkter)",
    "Sun-Abraham (interaction-weighted)": "Sun–Abraham (samspillsvektet)",
    "Callaway-Sant'Anna (dynamic)": "Callaway–Sant'Anna (dynamisk)",
    "Event study, {outcome} (uniform band: critical value {crit:.2f})":
        "Hendelsesstudie, {outcome} (uniformt bånd: kritisk verdi {crit:.2f})",
    "Relative magnitudes (C-LF)": "Relative størrelser (C-LF)",
    "Smoothness (FLCI)": "Glatthet (FLCI)",
    "Headline ATT with few-cluster inference (pre-specified: {inference})":
        "Hovedresultat ATT med inferens for få klynger (forhåndsbestemt: {inference})",
    "Headline ATT on {outcome} ({inference} inference): {ci}, p = {p:.4f}":
        "Hovedresultat ATT på {outcome} ({inference}-inferens): {ci}, p = {p:.4f}",
    "Truth inside the uniform band at {inside} of {n} event times":
        "Den sanne effekten ligger innenfor det uniforme båndet i {inside} av {n} hendelsestider",
    "Robust 95 % sets for the mean effect over e = 0..3 (estimate {est:.4f}); breakdown M̄ = {mbar:.3g}, M = {m:.3g}":
        "Robuste 95 %-mengder for gjennomsnittseffekten over e = 0..3 (estimat {est:.4f}); "
        "bruddverdi M̄ = {mbar:.3g}, M = {m:.3g}",
    "Against the 80 % slope: Bayes factor {bf:.3f}, likelihood ratio {lr:.3g}":
        "Mot helningen med 80 % styrke: Bayes-faktor {bf:.3f}, likelihood-forhold {lr:.3g}",
    "Average effect by adoption cohort (overall {est:.4f}, SE {se:.4f})":
        "Gjennomsnittlig effekt etter innføringskohort (samlet {est:.4f}, SE {se:.4f})",
    "Average effect by period (overall {est:.4f}, SE {se:.4f})":
        "Gjennomsnittlig effekt etter periode (samlet {est:.4f}, SE {se:.4f})",
    "Bacon decomposition (TWFE {est:.4f})": "Bacon-dekomponering (TWFE {est:.4f})",
    "{district}: effect on {outcome} before the next district adopted":
        "{district}: effekt på {outcome} før neste bydel innførte tiltaket",
    # 04 matched
    "Sample flow of the matched comparison": "Utvalgsflyt for den matchede sammenligningen",
    "Sample sizes (ESS = effective sample size)": "Utvalgsstørrelser (ESS = effektiv utvalgsstørrelse)",
    "Covariate balance": "Balanse i kjennetegn",
    "Matched DiD, average over the post period": "Matchet DiD, gjennomsnitt over perioden etter start",
    "Propensity score model ({link}), n = {n}": "Modell for deltakersannsynlighet ({link}), n = {n}",
    "Effect on {outcome} by months after entry": "Effekt på {outcome} etter måneder siden start",
    "Headline: {outcome} at {horizon} months": "Hovedresultat: {outcome} etter {horizon} måneder",
    "Sensitivity of the headline ({outcome} at {horizon} months)":
        "Følsomhet i hovedresultatet ({outcome} etter {horizon} måneder)",
    "Rosenbaum bounds for the headline ({outcome} at {horizon} months): significant at 5 % up to Γ = {gamma:.2f}":
        "Rosenbaum-grenser for hovedresultatet ({outcome} etter {horizon} måneder): signifikant på "
        "5 %-nivå opp til Γ = {gamma:.2f}",
    "E-value of the headline: {e:.2f} for the estimate, {e_ci:.2f} for the confidence limit closest to no effect":
        "E-verdi for hovedresultatet: {e:.2f} for estimatet, {e_ci:.2f} for konfidensgrensen nærmest "
        "ingen effekt",
    "Secondary outcome: {outcome}": "Sekundært utfall: {outcome}",
    # 05 contract
    "Outcome events by group": "Resultathendelser etter gruppe",
    "Per-participant means over the window": "Gjennomsnitt per deltaker over perioden",
    "Outcome payments by quarter and item": "Resultatbetalinger etter kvartal og post",
    "Counterfactual: {counterfactual}; uncertainty: {uncertainty}":
        "Kontrafaktisk sammenligning: {counterfactual}; usikkerhet: {uncertainty}",
    "Matched comparison group": "Matchet sammenligningsgruppe",
    "Pilot caseload by month: stock, inflow, outflow, counterfactual and goal":
        "Pilotens saksmengde per måned: beholdning, tilgang, avgang, kontrafaktisk utvikling og mål",
    "{name}: payment rule ({type}, {currency})": "{name}: betalingsregel ({type}, {currency})",
    "{method}: counterfactual {counterfactual}, uncertainty {uncertainty}":
        "{method}: kontrafaktisk {counterfactual}, usikkerhet {uncertainty}",
    "{month}: {reduction:.1%} below the counterfactual (goal {goal:.0%}): {verdict}":
        "{month}: {reduction:.1%} under den kontrafaktiske utviklingen (mål {goal:.0%}): {verdict}",
    "goal met": "målet er nådd",
    "goal not met": "målet er ikke nådd",
    "Effect taken from {source}": "Effekt hentet fra {source}",
    # 06 trial design
    "Design inputs from the current data": "Grunnlag for designet fra dagens data",
    "Threshold met / significant / MDE by trial size and true effect":
        "Terskel nådd / signifikant / MDE etter forsøksstørrelse og sann effekt",
    "persons now: {n}; MDE {mde:.4g} ({rel:.1%} of the counterfactual mean); payment margin {margin:.1%}":
        "personer nå: {n}; MDE {mde:.4g} ({rel:.1%} av det kontrafaktiske gjennomsnittet); "
        "betalingsmargin {margin:.1%}",
    "persons needed to detect an effect the size of the margin (5 %, 80 %): {n}":
        "personer som trengs for å påvise en effekt på størrelse med marginen (5 %, 80 %): {n}",
    "P(estimate beats the payment margin)": "P(estimatet slår betalingsmarginen)",
    "Payment threshold ({margin:.1%}) met, by trial size":
        "Betalingsterskel ({margin:.1%}) nådd, etter forsøksstørrelse",
    "Simulated power by number of districts (5 % two-sided)":
        "Simulert styrke etter antall bydeler (5 % tosidig)",
    "{outcome}: SD {sd:.3f}, district ICC estimated {icc:.4f}, person persistence {rho:.2f}":
        "{outcome}: SD {sd:.3f}, estimert ICC for bydel {icc:.4f}, varighet på personnivå {rho:.2f}",
    # 07 contract design
    "Candidate payment rules": "Kandidater til betalingsregel",
    "Settlement by counterfactual and window": "Oppgjør etter kontrafaktisk sammenligning og periode",
    "Stated true effect: {effects}": "Oppgitt sann effekt: {effects}",
    "Payment per participant by baseline group": "Utbetaling per deltaker etter gruppe før start",
    "Group prices: {prices}": "Gruppepriser: {prices}",
    "The re-priced rule": "Den omprisede regelen",
    "Price per {event} (counterfactual rate from '{payer}')":
        "Pris per {event} (kontrafaktisk rate fra '{payer}')",
    # notes the disclosure gate writes under a table (evaluation/disclosure.py)
    "Counts below {T} are shown as {label}.": "Antall under {T} vises som {label}.",
    "Counts below {T} are shown as {label}; {k} further cell(s) hidden so that they cannot be recovered "
    "from the totals.": "Antall under {T} vises som {label}; {k} celle(r) til er skjult slik at de ikke kan "
                        "regnes ut fra summene.",
    "Statistics not shown: they describe a group of fewer than {T} persons.":
        "Statistikk vises ikke: den beskriver en gruppe på færre enn {T} personer.",
    "{col}: rounded to a multiple of {base} × the price ({prices}), so that it does not reveal how many "
    "persons were paid for.": "{col}: avrundet til et multiplum av {base} × prisen ({prices}), slik at "
                              "beløpet ikke avslører hvor mange personer det ble betalt for.",
    "{k} estimate(s) withheld: fewer than {m} persons (disclosure.min_analysis_n; the Justice Data Lab "
    "publishes nothing for fewer than 60).": "{k} estimat(er) holdt tilbake: færre enn {m} personer "
                                             "(disclosure.min_analysis_n; Justice Data Lab publiserer "
                                             "ingenting for færre enn 60).",
}


# ------------------------------------------------------------------------------------------
# figure texts the package's plot functions write (titles, axis labels, legends)
# ------------------------------------------------------------------------------------------
#: English label → bokmål, translated as a figure is displayed in an nb report
#: (:func:`figure_text`, ``evaluation.report.translate_figure``); ``{field}`` matches any text,
#: kept as it is (a number in it in the language's format).  Labels not listed stay as drawn.
FIGURE: dict[str, str] = {
    # 06's district-pilot power facets (seaborn relplot: "<row> = <value> | <col> = <value>", axes and
    # legend titles are the columns' names)
    "icc = {icc} | design = one pilot district": "ICC = {icc} | design = én pilotbydel",
    "icc = {icc} | design = half the districts, staggered": "ICC = {icc} | design = halvparten av bydelene, trinnvis",
    "n_clusters": "antall klynger", "power": "styrke", "method": "metode", "effect": "effekt",
    # matching
    "months after start": "måneder etter start",
    "months since start (event time)": "måneder siden start (hendelsestid)",
    "effect (95% CI)": "effekt (95 % KI)",
    "DiD estimate (95% CI)": "DiD-estimat (95 % KI)",
    "propensity score": "deltakersannsynlighet",
    "density": "tetthet",
    "before": "før",
    "after matching/weighting": "etter matching/vekting",
    "group": "gruppe",
    "Covariate balance": "Balanse i kjennetegn",
    "|standardised mean difference|": "|standardisert gjennomsnittsforskjell|",
    "standardised mean difference": "standardisert gjennomsnittsforskjell",
    "Gamma (odds of differential assignment)": "Gamma (odds for ulik tildeling)",
    "p-value (upper bound)": "p-verdi (øvre grense)",
    "upper bound on p-value": "øvre grense for p-verdien",
    "level {a}": "nivå {a}",
    "critical Gamma = {g}": "kritisk Gamma = {g}",
    # rct
    "months since randomisation": "måneder siden trekningen",
    "effect on {outcome}": "effekt på {outcome}",
    "{term}: ITT": "{term}: ITT",
    "{term}: pointwise CI": "{term}: punktvis KI",
    "{term}: {p}% uniform band": "{term}: {p} % uniformt bånd",
    # did
    "event time": "hendelsestid",
    "period": "periode",
    "uniform band": "uniformt bånd",
    "mean {outcome}": "gjennomsnitt {outcome}",
    "Treatment status by district and period (red = programme running)":
        "Status etter bydel og periode (rød = tiltaket i gang)",
    "Goodman-Bacon decomposition": "Goodman-Bacon-dekomponering",
    "weight": "vekt",
    "2x2 DiD estimate": "2x2 DiD-estimat",
    "Event study, wild cluster bootstrap intervals": "Hendelsesstudie, intervaller fra vill klynge-bootstrap",
    "hypothesised trend": "antatt trend",
    "estimated coefficients": "estimerte koeffisienter",
    "expectation after passing the pre-test": "forventning etter bestått test før start",
    "Power of the pre-test {p}": "Styrken til testen før start {p}",
    "original": "opprinnelig",
    "breakdown {m} = {v}": "bruddverdi {m} = {v}",
    "{p}% confidence set": "{p} % konfidensmengde",
    "assignments": "tildelinger",
    "observed": "observert",
    "Randomisation distribution ({n} assignments, exact)": "Randomiseringsfordeling ({n} tildelinger, eksakt)",
    "Randomisation distribution ({n} random permutations)":
        "Randomiseringsfordeling ({n} tilfeldige permutasjoner)",
    "treated": "med tiltaket",
    "synthetic": "syntetisk",
    "time weights": "tidsvekter",
    "unit weight": "enhetsvekt",
    "Synthetic comparison: unit weights": "Syntetisk sammenligning: enhetsvekter",
    "{method}: estimate {est}": "{method}: estimat {est}",
    # contracts
    "Cash flows by month": "Kontantstrømmer per måned",
    "Cumulative outcome payments": "Kumulative resultatbetalinger",
    "total": "totalt",
    "Distribution of payments ({u})": "Fordeling av utbetalinger ({u})",
    "total outcome payment ({cur})": "samlet resultatbetaling ({cur})",
    "cumulative outcome payments ({cur}, rounded to {step})": "kumulative resultatbetalinger ({cur}, avrundet til {step})",
    "{cur} (rounded to {step})": "{cur} (avrundet til {step})",
    "Social-assistance caseload against the reduction goal": "Saksmengden med sosialhjelp mot reduksjonsmålet",
    "Targets and achievement": "Mål og måloppnåelse",
    "share": "andel",
    "target": "mål",
    "achieved (Wilson interval)": "oppnådd (Wilson-intervall)",
    "paid anyway (no effect)": "betalt uansett (ingen effekt)",
    "paid for the effect": "betalt for effekten",
    "paid with no true effect (deadweight)": "betalt uten sann effekt (dødvekt)",
    "paid for the estimated effect": "betalt for den estimerte effekten",
    "investor's internal rate of return (% a year; 5-95 % whiskers)":
        "investorens internrente (% per år; 5–95 % som streker)",
    "expected payment (million {cur})": "forventet utbetaling (millioner {cur})",
    "payment per participant ({cur})": "utbetaling per deltaker ({cur})",
    "multiple of the stated true effect": "multiplum av den oppgitte sanne effekten",
    "P(any payment)": "P(noen utbetaling)",
    # the sample flow (evaluation.panel), drawn on the summary page
    "persons": "personer",
    "persons in any extract": "personer i minst ett uttrekk",
    "no assignment record": "ingen tildelingspost",
    "no covariates (not in persons)": "ingen kjennetegn (ikke i persons)",
    "no coverage record": "ingen dekningspost",
    "coverage does not overlap the study window": "dekningen overlapper ikke studieperioden",
    "persons in the panel": "personer i panelet",
    "treated persons assigned before the window or without assigned_month (cohort missing)":
        "personer med tiltaket tildelt før perioden eller uten assigned_month (kohort mangler)",
    "control": "kontroll",
    "pre": "før", "post": "etter", "participants": "deltakere", "comparison": "sammenligning",
    # the gate's note on a figure (evaluation.disclosure.note_hidden)
    "{n} point(s) with fewer than {t} persons not shown": "{n} punkt(er) med færre enn {t} personer vises ikke",
    "{n} bin(s) with fewer than {t} persons not shown": "{n} søyle(r) med færre enn {t} personer vises ikke",
    "{n} {what} with fewer than {t} persons not shown": "{n} {what} med færre enn {t} personer vises ikke",
}

_NUMBER_TEXT = re.compile(r"^-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")


#: Notes estimators write as warnings (``Gate.noted`` prints them as "Note: ..."), English →
#: bokmål; ``{field}`` matches any text.  Warnings not listed are printed as written.
NOTES: dict[str, str] = {
    "Dropped {k} units while converting to a balanced panel (units not observed in all {T} periods). "
    "Pass allow_unbalanced_panel=True to keep them.":
        "{k} enheter utelatt ved overgangen til et balansert panel (enheter som ikke er observert i alle "
        "{T} perioder). Bruk allow_unbalanced_panel=True for å beholde dem.",
    "Dropped {k} units that were already treated in the first period.":
        "{k} enheter utelatt fordi de allerede hadde tiltaket i første periode.",
    "Dropped {k} units that were already treated in the first period (accounting for anticipation = {a}).":
        "{k} enheter utelatt fordi de allerede hadde tiltaket i første periode (med forventningseffekt = {a}).",
    "Dropped {k} rows with missing {col}, covariates, weights or time.":
        "{k} rader utelatt fordi {col}, kjennetegn, vekter eller tid mangler.",
    "Only {g} clusters of {col}: cluster-robust standard errors and bands are unreliable with few clusters "
    "(and when whole cohorts are single clusters).":
        "Bare {g} klynger i {col}: klyngerobuste standardfeil og bånd er upålitelige med få klynger (og når "
        "hele kohorter er én klynge).",
    "Simultaneous critical value {c} is too large to be reliable (few units or clusters per group, or little "
    "variation in outcomes), as R did warns.":
        "Den simultane kritiske verdien {c} er for stor til å være pålitelig (få enheter eller klynger per "
        "gruppe, eller lite variasjon i utfallene), slik R-pakken did også advarer om.",
    "Simultaneous critical value not available or below the pointwise one; reporting pointwise intervals "
    "(as R did).": "Simultan kritisk verdi er ikke tilgjengelig eller lavere enn den punktvise; punktvise "
                   "intervaller rapporteres (som i R-pakken did).",
    "Not returning the pre-test Wald statistic: the covariance matrix of the {k} pre-treatment ATT(g,t) is "
    "singular (e.g. fewer clusters than pre-periods).":
        "Wald-testen før start gis ikke: kovariansmatrisen til de {k} ATT(g,t) før start er singulær (for "
        "eksempel færre klynger enn perioder før start).",
    # an outcome contract's notes (evaluation.contracts.engine, res.notes)
    "no DiD effect given for {quantities}: the counterfactual equals the participants' mean there (zero "
    "effect assumed)": "ingen DiD-effekt oppgitt for {quantities}: det kontrafaktiske nivået er lik "
                       "deltakernes gjennomsnitt der (ingen effekt antatt)",
    "no historical baseline for {quantities}: the counterfactual equals the participants' mean there (zero "
    "effect assumed)": "ikke noe historisk nivå for {quantities}: det kontrafaktiske nivået er lik "
                       "deltakernes gjennomsnitt der (ingen effekt antatt)",
    "payable counterfactual from effects/baselines on payment events is linear (staging order and caps "
    "ignored)": "det kontrafaktiske betalbare nivået fra effekter/historiske nivåer på betalingshendelser er "
                "lineært (rekkefølgen av trinn og tak er ikke tatt med)",
    "counterfactual payments assume the comparison group would have been mapped at the participants' "
    "mapping rate ({rate}%); mapping is the provider's activity":
        "de kontrafaktiske betalingene forutsetter at sammenligningsgruppen ville blitt kartlagt like ofte "
        "som deltakerne ({rate} %); kartleggingen er leverandørens aktivitet",
}


#: Method descriptions the estimators write (``m.method``, ``res.counterfactual_description``,
#: ``tg.method``, ``cl.method``, a withheld estimate's reason), English → bokmål, translated as a
#: report displays them (:func:`description`; the estimators' output stays English).  ``{field}``
#: matches any text; a field's text is itself looked up here (numbers in the language's format,
#: names and data as written).  A description no entry matches whole is translated part by part
#: (split at ``"; "``, else at ``", "``); parts not listed are shown as written.
DESCRIPTIONS: dict[str, str] = {
    # contracts (evaluation.contracts.engine / monitor / compare)
    "Outcome contract: {name} ({type})": "Resultatkontrakt: {name} ({type})",
    "control arm of the randomised trial": "kontrollgruppen i det randomiserte forsøket",
    "matched comparison group (effective n {n})": "matchet sammenligningsgruppe (effektiv n {n})",
    "participants' outcomes minus the difference-in-differences effect estimate":
        "deltakernes utfall minus effektestimatet fra forskjell-i-forskjeller",
    "historical baseline": "historisk nivå",
    "Targets vs achieved ({level}% Wilson / Clopper-Pearson)":
        "Mål og måloppnåelse ({level} % Wilson / Clopper-Pearson)",
    "Caseload of {pilot} vs {reduction}% reduction goal (counterfactual: {desc})":
        "Saksmengden i {pilot} mot målet om {reduction} % reduksjon (kontrafaktisk utvikling: {desc})",
    "comparison districts' caseload (never treated: {never}; not yet treated: {later}, each until it "
    "joins), chain-linked month to month and indexed to the pilot's mean caseload in the {k} months "
    "before start":
        "saksmengden i sammenligningsbydelene (aldri med tiltaket: {never}; ennå ikke med tiltaket: "
        "{later}, hver til den innfører tiltaket), kjedet måned for måned og indeksert til pilotens "
        "gjennomsnittlige saksmengde de {k} månedene før start",
    "linear trend of the pilot's caseload in the {k} months before start":
        "lineær trend i pilotens saksmengde de {k} månedene før start",
    "none": "ingen",
    "Candidate payment rules for {name} against the {counterfactual} counterfactual ({n} draws)":
        "Mulige betalingsregler for {name} mot kontrafaktisk {counterfactual} ({n} trekninger)",
    # an effect read from results.json (evaluation.contracts.effects.EffectEstimate.describe)
    "effect {estimate} (SE {se}) on {outcome}": "effekt {estimate} (SE {se}) på {outcome}",
    "effect {estimate} (SE {se})": "effekt {estimate} (SE {se})",
    "{what} (recorded value x {scale})": "{what} (registrert verdi x {scale})",
    "from {source}": "fra {source}",
    # matching (evaluation.matching): "Nearest-neighbour matching 1:1 without replacement, caliper
    # 0.2 SD, exact on office, logit propensity score"
    "Nearest-neighbour matching {ratio}:1 {replacement}": "Nærmeste-nabo-matching {ratio}:1 {replacement}",
    "with replacement": "med tilbakelegging",
    "without replacement": "uten tilbakelegging",
    "{replacement} (ATC: participants matched to comparison units)":
        "{replacement} (ATC: deltakere matchet til sammenligningsenheter)",
    "caliper {c} SD": "kaliper {c} SD",
    "exact on {columns}": "eksakt på {columns}",
    "Mahalanobis distance": "Mahalanobis-avstand",
    "{link} propensity score": "propensitetsskår ({link})",
    "MatchIt 4.5.1 bug emulation": "etterligner feilen i MatchIt 4.5.1",
    "Inverse probability weighting ({options})": "Invers sannsynlighetsvekting ({options})",
    "trimmed at {q}": "trimmet ved {q}",
    "Entropy balancing ({estimand}, means)": "Entropibalansering ({estimand}, gjennomsnitt)",
    "Entropy balancing ({estimand}, means and variances)":
        "Entropibalansering ({estimand}, gjennomsnitt og varianser)",
    "Coarsened exact matching ({estimand})": "Grovinndelt eksakt matching ({estimand})",
    "effects on {outcome} by horizon ({se} SEs)": "effekter på {outcome} etter horisont ({se}-standardfeil)",
    # the disclosure gate: a withheld estimate's reason (evaluation.disclosure.gate_value)
    "fewer than {m} persons (disclosure.min_analysis_n)": "færre enn {m} personer (disclosure.min_analysis_n)",
}


@functools.lru_cache(maxsize=None)
def _patterns(table: str) -> list[tuple[re.Pattern, str, list[str], bool]]:
    out = []
    for en, nb in {"FIGURE": FIGURE, "NOTES": NOTES, "DESCRIPTIONS": DESCRIPTIONS}[table].items():
        if "{" in en:
            names = [f for _, f, _, _ in string.Formatter().parse(en) if f]
            rx = "".join(re.escape(lit) + ("(.+?)" if f else "")
                         for lit, f, _, _ in string.Formatter().parse(en))
            out.append((re.compile(f"^{rx}$", re.S), nb, names, en.startswith("{")))
    return out


def figure_text(label: str, language: str) -> str:
    """A figure label drawn by the package in ``language`` (:data:`FIGURE`; labels not listed are
    returned as they are: data, names, numbers)."""
    return _pattern_text(label, language, "FIGURE")


def note_text(message: str, language: str) -> str:
    """An estimator's warning in ``language`` (:data:`NOTES`; others as written)."""
    return _pattern_text(message, language, "NOTES")


def description(text: Any, language: str) -> Any:
    """A method description an estimator wrote (``m.method``, ``res.counterfactual_description``,
    a withheld estimate's reason) in ``language`` (:data:`DESCRIPTIONS`); texts it does not know,
    non-texts and texts already translated (:class:`Text`) are returned as they are.

    >>> description("caliper 0.2 SD, exact on office, logit propensity score", "nb")
    'kaliper 0,2 SD, eksakt på office, propensitetsskår (logit)'
    """
    if language == "en" or not isinstance(text, str) or isinstance(text, Text) or not text:
        return text
    if text in DESCRIPTIONS:
        return DESCRIPTIONS[text]
    patterns = _patterns("DESCRIPTIONS")
    # entries opening with words first; then the parts of a list; entries opening with a field
    # ("{link} propensity score") last, so that they never swallow a whole list
    out = _description_pattern(text, language, [p for p in patterns if not p[3]])
    if out is None:
        for sep in ("; ", ", "):
            if sep in text:
                parts = text.split(sep)
                done = [description(p, language) for p in parts]
                if done != parts:
                    return sep.join(done)
        out = _description_pattern(text, language, [p for p in patterns if p[3]])
    return text if out is None else out


def _match(text: str, language: str, patterns, value) -> str | None:
    """The first catalogue pattern matching ``text``, its fields filled by ``value`` (numbers in
    the language's format), else None."""
    for rx, nb, names, _ in patterns:
        m = rx.match(text)
        if m:
            return nb.format(**{n: (number_text(v, language) if _NUMBER_TEXT.match(v) else value(v))
                                for n, v in zip(names, m.groups())})
    return None


def _description_pattern(text: str, language: str, patterns) -> str | None:
    return _match(text, language, patterns, lambda v: description(v, language))


def _pattern_text(label: str, language: str, table: str) -> str:
    catalogue = {"FIGURE": FIGURE, "NOTES": NOTES}[table]
    if language == "en" or not label:
        return label
    if label in catalogue:
        return catalogue[label]
    out = _match(label, language, _patterns(table), lambda v: v)
    return label if out is None else out


def number_text(value: str, language: str) -> str:
    """A number written in English (``"15,000"``, ``"0.25"``) in the language's format."""
    if language == "en":
        return value
    return value.replace(",", THIN).replace(".", ",")



def notebook_texts(source: str) -> tuple[list[str], list[str]]:
    """The reader-facing texts of a notebook's code (jupytext percent source): ``(keys, bad)``.

    ``keys`` are the English templates the notebook publishes (``gate.tr("...")`` and
    constant ``caption="..."``), each of which needs an entry in :data:`TEXTS`; ``bad`` lists
    texts the catalogue cannot reach: f-strings (or concatenations) given as a caption, a note
    (``gate.say``) or a figure title/label (use ``gate.tr`` with fields instead).
    """
    import ast
    keys, bad = [], []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
        if name == "tr" and node.args and isinstance(node.args[0], ast.Constant):
            keys.append(node.args[0].value)
        checked = [kw.value for kw in node.keywords if kw.arg in ("caption", "title")]
        if name in ("say", "set_title", "set_xlabel", "set_ylabel", "suptitle"):
            checked += list(node.args)
        for v in checked:
            if isinstance(v, (ast.JoinedStr, ast.BinOp)):
                bad.append(f"line {v.lineno}: {ast.unparse(v)[:80]}")
            elif isinstance(v, ast.Constant) and isinstance(v.value, str):
                keys.append(v.value)
    return keys, bad


# ------------------------------------------------------------------------------------------
# table headers
# ------------------------------------------------------------------------------------------
COLUMNS: dict[str, str] = {
    "n": "n", "arm": "gruppe", "term": "ledd", "estimate": "estimat", "se": "SE",
    "p_value": "p-verdi", "pvalue": "p-verdi", "95 % CI": "95 % KI", "95 % band": "95 % bånd",
    "outcome": "utfall", "month": "måned", "persons": "personer", "step": "trinn", "reason": "grunn",
    "share": "andel", "mean": "gjennomsnitt", "group": "gruppe", "office": "kontor",
    "method": "metode", "programme": "tiltak", "notebook": "notatbok", "key": "resultat",
    "headline": "hovedresultat", "estimate (95% CI)": "estimat (95 % KI)", "cohort": "kohort",
    "period": "periode", "event_time": "hendelsestid", "horizon": "horisont", "value": "verdi",
    "variable": "variabel", "subgroup": "undergruppe", "level": "nivå", "payment": "utbetaling",
    "paid": "betalt", "price": "pris", "cost": "kostnad", "amount": "beløp", "earnings": "inntekt",
    "n_assigned": "n tildelt", "n_observed": "n observert", "n_participated": "n deltok",
    "n_missing": "n mangler", "treated": "behandlet", "control": "kontroll", "age": "alder",
    "female": "kvinne", "immigrant": "innvandrer", "smd": "SMD", "variance_ratio": "variansforhold",
    "power": "styrke", "mde": "MDE", "statistic": "testobservator", "test": "test",
    "df": "fg", "stage": "fase", "event": "hendelse", "quarter": "kvartal", "rule": "regel",
    # columns the package's analyses add (data columns keep their names)
    "person_months": "personmåneder", "participants": "deltakere", "payments": "utbetalinger",
    "n_treated": "n behandlet", "n_control": "n kontroll", "n_participants": "n deltakere",
    "n_comparison": "n sammenligning", "n_needed_for_threshold": "n nødvendig for terskelen",
    "n_sims": "n simuleringer", "n_clusters": "n klynger", "units": "enheter",
    "mean_treated": "gj.snitt behandlet", "mean_control": "gj.snitt kontroll",
    "mean_after_pretest": "gj.snitt etter test før start", "avg_estimate": "gj.snitt estimat",
    "counterfactual": "kontrafaktisk", "counterfactual_mean": "kontrafaktisk gj.snitt",
    "sd": "SD", "sd_participants": "SD deltakere", "sd_counterfactual": "SD kontrafaktisk",
    "quantity": "størrelse", "kind": "art", "item": "post", "type": "type", "name": "navn",
    "note": "merknad", "how": "hvordan", "inference": "inferens", "design": "design",
    "verdict": "vurdering", "target": "mål", "goal": "målnivå", "met": "nådd", "achieved": "oppnådd",
    "numerator": "teller", "denominator": "nevner", "definition": "definisjon", "direction": "retning",
    "measure": "måling", "margin": "margin", "difference": "forskjell", "rate": "rate",
    "wilson_low": "Wilson nedre", "wilson_high": "Wilson øvre", "cp_low": "CP nedre", "cp_high": "CP øvre",
    "lb": "nedre", "ub": "øvre", "bound": "grense", "slope": "helning", "significant": "signifikant",
    "excludes_zero": "utelukker null", "true_effect": "sann effekt", "effect": "effekt",
    "effect (95% CI)": "effekt (95 % KI)", "true effect (synthetic)": "sann effekt (syntetisk)",
    "true simple ATT (synthetic)": "sann enkel ATT (syntetisk)", "observed_relative_effect":
        "observert relativ effekt", "p_threshold_met": "P(terskel nådd)",
    "power_significant": "styrke (signifikans)", "mde_relative": "MDE relativt",
    "all": "alle", "matched": "matchet", "unmatched": "ikke matchet", "discarded": "forkastet",
    "ess": "ESS", "excluded_treated": "utelatt behandlet", "excluded_control": "utelatt kontroll",
    "covariate": "kjennetegn", "smd_before": "SMD før", "smd_after": "SMD etter", "smd_flag": "SMD-flagg",
    "var_ratio_before": "variansforhold før", "var_ratio_after": "variansforhold etter",
    "var_ratio_flag": "variansforhold-flagg", "ecdf_max_after": "maks eCDF etter",
    "max_abs_smd": "maks |SMD|", "e_value": "E-verdi", "e_value_ci": "E-verdi KI", "rr": "RR",
    "rr_low": "RR nedre", "rr_high": "RR øvre", "p_upper": "p øvre", "gamma": "Γ",
    "stock": "beholdning", "inflow": "tilgang", "outflow": "avgang",
    "reduction_vs_counterfactual": "reduksjon mot kontrafaktisk", "district": "bydel",
    "first_treated": "først behandlet", "comparisons": "sammenligninger",
    "comparison_offices": "sammenligningskontorer", "weight": "vekt", "variant": "variant",
    "effective comparison districts": "effektive sammenligningsbydeler", "placebo SE": "placebo-SE",
    "placebo p": "placebo-p", "bias_unconditional": "skjevhet uten betingelse",
    "bias_after_pretest": "skjevhet etter test før start", "betahat": "beta-hat",
    "delta": "delta", "mc_se": "MC-SE", "icc": "ICC", "aggregation": "aggregering",
}


def column(name: str, language: str) -> str:
    """A table header in ``language`` (names without an entry are kept: they are column names
    of the data, which the reader knows from the data dictionary)."""
    if language == "en":
        return name
    if str(name) in COLUMNS:
        return COLUMNS[str(name)]
    base, unit = re.match(r"^(.*?)( \([^()]*\))?$", str(name)).groups()
    return COLUMNS.get(base, base) + (unit or "")


# ------------------------------------------------------------------------------------------
# numbers
# ------------------------------------------------------------------------------------------
def format_number(x: Any, language: str = "en", decimals: int = 0, *, minus: str = "-") -> str:
    """``x`` with ``decimals`` decimals, a non-breaking thousands separator and, in ``nb``, a
    decimal comma: ``1234.5`` → ``"1 234.5"`` (en) / ``"1 234,5"`` (nb).  Missing → ``"–"``."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    s = f"{abs(float(x)):,.{decimals}f}".replace(",", THIN)
    if language == "nb":
        s = s.replace(".", ",")
    neg = float(x) < 0 and float(s.replace(THIN, "").replace(",", ".")) != 0
    return (minus if neg else "") + s


def significant(x: Any, digits: int = 3, language: str = "en", *, minus: str = "-") -> str:
    """``x`` to ``digits`` significant digits (fixed notation, never exponent form)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    x = float(x)
    if x == 0:
        return format_number(0, language, max(digits - 1, 0))
    mag = math.floor(math.log10(abs(x)))
    return format_number(x, language, max(digits - 1 - mag, 0), minus=minus)
