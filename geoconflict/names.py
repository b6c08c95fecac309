"""Place-name folding and scoring for transliterated Arabic.

The same Syrian place reaches an analyst as ``Ma'arrat An Nu'man``, ``Maarat al-Numan`` and
``Ma`arrat an Nu`man``; ``Idlib`` and ``Idleb``; ``Hamah`` and ``Hama``.  :func:`fold_name` maps
such spellings onto one key; :func:`name_score` compares two names on their folded forms (0-100) and
:func:`same_place` says whether two names very probably denote the same place.

Folding (in order):

1. Unicode compatibility form, diacritics dropped, lower case (``Ḥamāh`` -> ``hamah``).
2. Glottal stops and ʿayn marks dropped: ʿ ʾ ` ' ‘ ’ ´ ʼ and ``?`` (a common encoding scar).
   Every other non-alphanumeric character (hyphen, slash, dot, brackets) separates words.
3. Articles dropped: ``al``, ``el``, ``il``, ``ul``, ``l`` as a word; the assimilated forms
   ``as ash ad adh ar at ath az an`` (and ``es ed er et ez en esh``) when the next word starts with
   the same consonant (``as-Suqaylabiyah``, ``an Nu`man``); ``al``/``el`` glued to a word that is
   not the first one kept (``Ein Elbardeh``, but ``al-Elishar`` keeps its ``el``);
   ``Abul``/``Aboul`` before a word is ``Abu`` (``Abul Thohur``); generic words (``city``,
   ``town``, ``village``, ``governorate``, ``province``, ``district``, ``subdistrict``,
   ``muhafazat``, ``nahiya``...) dropped from a longer name (``Ariha city``, ``Idlib
   Governorate``, ``Muhafazat Hims``).
4. Letter variants: ``sch``/``ch`` -> ``sh``, ``gh`` -> ``g``, ``q``/``ck`` -> ``k``,
   ``ph`` -> ``f``, ``dj`` -> ``j``, ``ou``/``oo``/``o`` -> ``u``, ``ee``/``ie`` -> ``i``,
   ``ei``/``ey``/``ai`` -> ``ay``, doubled letters single (``aa`` -> ``a``, ``rr`` -> ``r``).
5. A word's final ``eh``/``ah``/``a``/``h``/``e`` dropped (ta marbuta: ``Atmeh``/``Atma``), when at
   least two letters remain.
6. Words joined without spaces (``Kafr Nabl`` and ``Kafrnabl`` fold alike).

Scores (:func:`folded_score` of two folded names, 0-100) take the best of four comparisons, so
that a spelling that differs only in what transliteration schemes disagree on scores high, and
nothing but identical folded forms scores 100:

- the normalised Indel similarity (``rapidfuzz.fuzz.ratio``) of the folded forms;
- the same on a *loose* form (a first vowel as ``a``: ``Eriha``/``Ariha``, ``Ihsim``/``Ehsem``;
  ``e`` -> ``i``; ``y``/``w`` after a vowel dropped), scaled by 0.96 (by less for short loose
  forms: 4 letters 0.92, 3 letters 0.86, fewer 0.6);
- the same on the consonant *skeleton* (vowels, ``y``, ``w`` and ``h`` after a consonant dropped,
  the first letter kept), scaled by 0.92, and by less for short skeletons
  (3 letters: 0.82, 2 or fewer: 0.6), which say little;
- the same on the skeleton's letters in alphabetical order (a transposition such as
  ``Maourzeh``/``Mozra`` costs nothing), scaled by 0.85 (3 letters: 0.8, fewer: 0.5): this one
  alone can never reach the fuzzy-match threshold of the gazetteer, it only brings a
  transposed spelling among the candidates.

:func:`name_score` and :func:`same_place` compare two raw names: the best score over each name
and its base without a bracketed qualifier (``Homs (Hims)``), with the Arabic/English names of
:data:`EXONYMS` taken as equal (``Halab``/``Aleppo``, ``Rif Dimashq``/``Rural Damascus``).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rapidfuzz import fuzz

__all__ = [
    "fold_name",
    "loose_form",
    "skeleton",
    "name_score",
    "same_place",
    "SAME_PLACE_THRESHOLD",
    "LOOSE_WEIGHT",
    "loose_weight",
    "skeleton_weight",
    "anagram",
    "anagram_weight",
    "folded_score",
    "EXONYMS",
]

#: default threshold of :func:`same_place`
SAME_PLACE_THRESHOLD = 88.0
#: weight of the loose-form similarity in :func:`name_score`
LOOSE_WEIGHT = 0.96

_DROP = dict.fromkeys(map(ord, "ʿʾ`'‘’´ʼʻ′?\u02bf\u02be"), None)
_NON_WORD = re.compile(r"[^0-9a-z]+")
_ARTICLE_WORDS = frozenset({"al", "el", "il", "ul", "l"})
#: assimilated article -> the letters the next word must start with
_ASSIMILATED = {
    "as": "s", "es": "s", "ash": "s", "esh": "s",
    "ad": "d", "ed": "d", "adh": "d",
    "ar": "r", "er": "r",
    "at": "t", "et": "t", "ath": "t",
    "az": "z", "ez": "z",
    "an": "n", "en": "n",
}
#: words of press reports and admin tables that are no part of the name ("Ariha city",
#: "Idlib Governorate", "Muhafazat Hims")
_GENERIC = frozenset({
    "city", "town", "village", "governorate", "province", "district", "subdistrict",
    "muhafazat", "muhafazah", "muhafaza", "mohafazat", "nahiya", "nahiyah", "nahiyat",
})
#: "Abul Thohur" is "Abu al-Thohur"
_ABUL = frozenset({"abul", "abol", "aboul", "abil", "abel"})
#: the letter variants above in two passes (same result, faster)
_ONE_PASS_MAP = {
    "sch": "sh", "ch": "sh", "gh": "g", "ck": "k", "q": "k", "ph": "f", "dj": "j",
    "ou": "u", "oo": "u", "o": "u", "ee": "i", "ie": "i",
}
_ONE_PASS = re.compile("|".join(sorted(_ONE_PASS_MAP, key=len, reverse=True)))
_DIPHTHONG = re.compile(r"ei|ey|ai")
_DOUBLE = re.compile(r"([a-z])\1+")


def _one_pass(m: re.Match[str]) -> str:
    return _ONE_PASS_MAP[m.group(0)]


_FINAL = re.compile(r"(?:eh|ah|a|h|e)$")
_LOOSE = [
    (re.compile(r"^[aeiou]"), "a"),
    (re.compile(r"e"), "i"),
    (re.compile(r"(?<=[aiu])[yw]"), ""),
    (re.compile(r"([a-z])\1+"), r"\1"),
]
_SKELETON_DROP = re.compile(r"(?<=.)(?:[aeiouyw]|(?<=[bcdfgjklmnpqrstvxz])h)")


def _words(name: str) -> list[str]:
    text = name
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower().translate(_DROP).replace("ı", "i")
    return [w for w in _NON_WORD.split(text) if w]


def _drop_articles(words: list[str]) -> list[str]:
    out: list[str] = []
    last = len(words) - 1
    for i, w in enumerate(words):
        nxt = words[i + 1] if i < last else ""
        if nxt and w in _ARTICLE_WORDS:
            continue
        if w in _GENERIC and last > 0:
            continue
        if nxt and w in _ASSIMILATED and nxt.startswith(_ASSIMILATED[w]):
            continue
        if out and len(w) >= 5 and w[:2] in ("al", "el"):
            w = w[2:]
        if nxt and w in _ABUL:
            w = "abu"
        out.append(w)
    return out


def _fold_word(w: str) -> str:
    w = _DOUBLE.sub(r"\1", _DIPHTHONG.sub("ay", _ONE_PASS.sub(_one_pass, w)))
    stripped = _FINAL.sub("", w)
    return stripped if len(stripped) >= 2 else w


@lru_cache(maxsize=262_144)
def fold_name(s: str) -> str:
    """The folded key of a place name (see the module docstring); ``""`` for blank input.

    >>> fold_name("Ma`arrat an Nu`man") == fold_name("Maarat al-Numan")
    True
    >>> fold_name("al-Maourzeh")
    'maurz'
    """
    if not isinstance(s, str):
        return ""
    words = _drop_articles(_words(s))
    return "".join(_fold_word(w) for w in words)


def loose_form(folded: str) -> str:
    """A looser key from a folded name: a first vowel as ``a``, ``e`` as ``i``, a ``y``/``w``
    after a vowel dropped."""
    for pattern, repl in _LOOSE:
        folded = pattern.sub(repl, folded)
    return folded


def skeleton(folded: str) -> str:
    """The consonant skeleton of a folded name (first letter kept)."""
    return _SKELETON_DROP.sub("", folded)


def loose_weight(length: int) -> float:
    """Weight of the loose-form similarity for a loose form of ``length`` letters."""
    if length >= 5:
        return LOOSE_WEIGHT
    if length == 4:
        return 0.92
    if length == 3:
        return 0.86
    return 0.6


def skeleton_weight(length: int) -> float:
    """Weight of the skeleton similarity for a skeleton of ``length`` letters."""
    if length >= 4:
        return 0.92
    if length == 3:
        return 0.82
    return 0.6


def anagram(folded: str) -> str:
    """The letters of the consonant skeleton in alphabetical order."""
    return "".join(sorted(skeleton(folded)))


def anagram_weight(length: int) -> float:
    """Weight of the sorted-skeleton similarity for a skeleton of ``length`` letters."""
    if length >= 4:
        return 0.85
    if length == 3:
        return 0.8
    return 0.5


def folded_score(fa: str, fb: str) -> float:
    """The score of two folded names (see the module docstring); the gazetteer's fuzzy matcher
    computes exactly this, vectorised."""
    if not fa or not fb:
        return 0.0
    if fa == fb:
        return 100.0
    s1 = fuzz.ratio(fa, fb)
    la, lb = loose_form(fa), loose_form(fb)
    s2 = loose_weight(min(len(la), len(lb))) * fuzz.ratio(la, lb)
    ka, kb = skeleton(fa), skeleton(fb)
    shortest = min(len(ka), len(kb))
    s3 = skeleton_weight(shortest) * fuzz.ratio(ka, kb)
    s4 = anagram_weight(shortest) * fuzz.ratio(anagram(fa), anagram(fb))
    return float(max(s1, s2, s3, s4))


#: Arabic / English names of Syrian governorates and cities that no spelling rule relates
#: (used by :func:`name_score` on whole names only: a village may be called Halab)
EXONYMS: tuple[tuple[str, str], ...] = (
    ("Halab", "Aleppo"),
    ("Hims", "Homs"),
    ("Dimashq", "Damascus"),
    ("Rif Dimashq", "Rural Damascus"),
    ("Rif Damascus", "Rural Damascus"),
    ("Damascus Countryside", "Rural Damascus"),
    ("Al Ladhiqiyah", "Lattakia"),
    ("Dayr az Zawr", "Deir-ez-Zor"),
    ("Al Qunaytirah", "Quneitra"),
    ("As Suwayda'", "As-Sweida"),
    ("Palmyra", "Tadmor"),
)
_BRACKET = re.compile(r"\s*[(\[].*?[)\]]\s*")


@lru_cache(maxsize=65_536)
def _forms(name: str) -> frozenset[str]:
    """Folded forms compared by :func:`name_score`: the name, its base without a bracketed
    qualifier, each mapped through :data:`EXONYMS`."""
    forms = {fold_name(name)}
    if isinstance(name, str) and _BRACKET.search(name):
        forms.add(fold_name(_BRACKET.sub(" ", name)))
    return frozenset(_EXONYM_KEYS.get(f, f) for f in forms if f)


def name_score(a: str, b: str) -> float:
    """Similarity of two place names, 0-100, on their folded forms.

    100 means the folded forms are identical; see the module docstring for the rest.  A
    bracketed qualifier may be left out (``Homs (Hims)``/``Homs``), and the names in
    :data:`EXONYMS` are equal (``Halab``/``Aleppo``, ``Rif Dimashq``/``Rural Damascus``).
    """
    fa = _forms(a) if isinstance(a, str) else frozenset()
    fb = _forms(b) if isinstance(b, str) else frozenset()
    return max((folded_score(x, y) for x in fa for y in fb), default=0.0)


def same_place(a: str, b: str, *, threshold: float = SAME_PLACE_THRESHOLD) -> bool:
    """Whether two spellings very probably name the same place (``name_score >= threshold``).

    ``Idlib``/``Idleb``, ``Hamah``/``Hama``, ``Ma`arrat an Nu`man``/``Maarat al-Numan`` are;
    ``Hama``/``Homs`` are not.  Blank names are never the same place.
    """
    return name_score(a, b) >= threshold


_EXONYM_KEYS = {fold_name(a): fold_name(b) for a, b in EXONYMS}
