"""Language codes: one normal form, applied once where codes enter nlpops (data loading, requests, bundles).

A language code names a language the way BCP 47 does, by its primary subtag: case, region and script
subtags do not make another language (``JV``, ``jv``, ``jv-ID`` and ``jv_Latn`` are all ``jv``), and a
language with a two-letter ISO 639-1 code goes by it (ISO 639-3 and 639-2/B codes map to it: ``jav`` ->
``jv``, ``srd`` -> ``sc``, ``ger`` -> ``de``), as do a few deprecated codes (``iw`` -> ``he``) and the
individual languages CLDR folds into their macrolanguage (``cmn`` -> ``zh``, ``arb`` -> ``ar``). A language
without a two-letter code keeps its three-letter one (``fur``, ``lmo``, ``szl``). ``und`` means unknown.

The ISO 639 pairs come from the ISO 639-3 code tables (as packaged by Debian's iso-codes); code
assignments are facts, listed here so that normalising needs no dependency on the serving path.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from nlpops.errors import DataError

logger = logging.getLogger("nlpops.data")

UND = "und"
"""Unknown language (ISO 639-2 ``und``)."""

_ISO_639_PAIRS = (
    "aar:aa abk:ab afr:af aka:ak alb:sq amh:am ara:ar arg:an arm:hy asm:as ava:av ave:ae aym:ay aze:az bak:ba "
    "bam:bm baq:eu bel:be ben:bn bis:bi bod:bo bos:bs bre:br bul:bg bur:my cat:ca ces:cs cha:ch che:ce chi:zh "
    "chu:cu chv:cv cor:kw cos:co cre:cr cym:cy cze:cs dan:da deu:de div:dv dut:nl dzo:dz ell:el eng:en epo:eo "
    "est:et eus:eu ewe:ee fao:fo fas:fa fij:fj fin:fi fra:fr fre:fr fry:fy ful:ff geo:ka ger:de gla:gd gle:ga "
    "glg:gl glv:gv gre:el grn:gn guj:gu hat:ht hau:ha hbs:sh heb:he her:hz hin:hi hmo:ho hrv:hr hun:hu hye:hy "
    "ibo:ig ice:is ido:io iii:ii iku:iu ile:ie ina:ia ind:id ipk:ik isl:is ita:it jav:jv jpn:ja kal:kl kan:kn "
    "kas:ks kat:ka kau:kr kaz:kk khm:km kik:ki kin:rw kir:ky kom:kv kon:kg kor:ko kua:kj kur:ku lao:lo lat:la "
    "lav:lv lim:li lin:ln lit:lt ltz:lb lub:lu lug:lg mac:mk mah:mh mal:ml mao:mi mar:mr may:ms mkd:mk mlg:mg "
    "mlt:mt mon:mn mri:mi msa:ms mya:my nau:na nav:nv nbl:nr nde:nd ndo:ng nep:ne nld:nl nno:nn nob:nb nor:no "
    "nya:ny oci:oc oji:oj ori:or orm:om oss:os pan:pa per:fa pli:pi pol:pl por:pt pus:ps que:qu roh:rm ron:ro "
    "rum:ro run:rn rus:ru sag:sg san:sa sin:si slk:sk slo:sk slv:sl sme:se smo:sm sna:sn snd:sd som:so sot:st "
    "spa:es sqi:sq srd:sc srp:sr ssw:ss sun:su swa:sw swe:sv tah:ty tam:ta tat:tt tel:te tgk:tg tgl:tl tha:th "
    "tib:bo tir:ti ton:to tsn:tn tso:ts tuk:tk tur:tr twi:tw uig:ug ukr:uk urd:ur uzb:uz ven:ve vie:vi vol:vo "
    "wel:cy wln:wa wol:wo xho:xh yid:yi yor:yo zha:za zho:zh zul:zu "
)
_ALIASES = (
    # deprecated ISO 639-1 codes, and individual languages CLDR writes as their macrolanguage
    "iw:he in:id ji:yi jw:jv mo:ro cmn:zh arb:ar zsm:ms swh:sw pes:fa ekk:et lvs:lv khk:mn uzn:uz azj:az "
    "plt:mg npi:ne ory:or gaz:om pbt:ps quz:qu ydd:yi "
)
EQUIVALENTS: Mapping[str, str] = MappingProxyType(
    dict(pair.split(":", 1) for pair in (_ISO_639_PAIRS + _ALIASES).split())
)
"""Code -> the code it is written as (three-letter and deprecated codes -> ISO 639-1)."""

_CODE = re.compile(r"[a-z]{2,3}")


def normalize_lang(code: str) -> str:
    """The normal form of a language code: ``"de-DE"``, ``"DE"``, ``" de_at "``, ``"deu"`` -> ``"de"``.

    An empty code gives ``und``. Anything else keeps its (lower-cased) primary subtag, valid or not: callers
    that accept codes from users check them with :func:`is_language_code`.
    """
    base = code.strip().replace("_", "-").split("-", 1)[0].lower()
    if not base:
        return UND
    return EQUIVALENTS.get(base, base)


def is_language_code(code: str) -> bool:
    """Whether a normalised code has the shape of an ISO 639 code (two or three ASCII letters; ``und`` too)."""
    return _CODE.fullmatch(code) is not None


@dataclass(frozen=True)
class CodeMapping:
    """How the codes of one data file were normalised.

    Attributes:
        renamed: each code that was written otherwise -> its normal form (``{"JV": "jv", "srd": "sc"}``).
        merged: each normal form that several written codes share -> those codes, sorted
            (``{"jv": ["JV", "jv", "jv-ID"]}``): their rows are one language now.
    """

    renamed: dict[str, str] = field(default_factory=dict)
    merged: dict[str, list[str]] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for people: ``"jv-ID -> jv, srd -> sc; merged JV, jv, jv-ID as jv"`` (empty if nothing)."""
        parts = []
        if self.renamed:
            parts.append(", ".join(f"{raw} -> {code}" for raw, code in sorted(self.renamed.items())))
        if self.merged:
            merged = "; ".join(f"{', '.join(raws)} as {code}" for code, raws in sorted(self.merged.items()))
            parts.append(f"merged {merged}")
        return "; ".join(parts)


def map_codes(codes: Iterable[str]) -> CodeMapping:
    """The normalisation of the distinct written ``codes`` of one file (see :class:`CodeMapping`)."""
    by_code: dict[str, set[str]] = {}
    renamed: dict[str, str] = {}
    for raw in set(codes):
        code = normalize_lang(raw)
        by_code.setdefault(code, set()).add(raw)
        if raw != code:
            renamed[raw] = code
    merged = {code: sorted(raws) for code, raws in by_code.items() if len(raws) > 1}
    return CodeMapping(dict(sorted(renamed.items())), dict(sorted(merged.items())))


def report_codes(source: str, raw: Iterable[str]) -> CodeMapping:
    """How ``source`` wrote its language codes (:func:`map_codes`); codes merged into one language are warned
    about on the ``nlpops.data`` logger, naming them (never silently)."""
    mapping = map_codes(raw)
    for code, codes in mapping.merged.items():
        logger.warning(
            '"%s": the language codes %s all name one language, "%s"; their rows are merged into it. '
            "Write one code per language to silence this.",
            source,
            ", ".join(codes),
            code,
        )
    return mapping


def read_language(value: Any, column: str) -> tuple[str, str | None]:
    """The normalised language of one data row (``und`` when empty), or why the value is not a language code."""
    raw = str(value if value is not None else "").strip()
    code = normalize_lang(raw)
    if not is_language_code(code):
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        return "", (
            f'language column "{column}" holds {shown!r}, not a language code (use ISO 639 codes such as it, fur, '
            f'pt-BR, or "{UND}")'
        )
    return code, None


def normalize_codes(source: str, langs: Sequence[str]) -> tuple[list[str], CodeMapping]:
    """Normalise the languages of rows given in memory, as reading a file does (:func:`read_language`).

    Raises:
        DataError: a code is not a language code (two or three letters once normalised).
    """
    normal = {raw: normalize_lang(raw) for raw in set(langs)}
    bad = sorted(raw for raw, code in normal.items() if not is_language_code(code))
    if bad:
        raise DataError(
            f'"{source}": {bad[0]!r} is not a language code. Use ISO 639 codes (it, fur, pt-BR), "{UND}" for '
            "unknown, or leave the language out."
        )
    return [normal[x] for x in langs], report_codes(source, normal)


__all__ = [
    "EQUIVALENTS",
    "UND",
    "CodeMapping",
    "is_language_code",
    "map_codes",
    "normalize_codes",
    "normalize_lang",
    "read_language",
    "report_codes",
]
