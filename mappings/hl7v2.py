"""Allergy and medication codes translated inside HL7 v2 (ER7) messages; every other byte kept.

Where termmap looks (CE/CWE fields; only the first repetition of a field is translated):

    AL1-3, IAM-3                    allergy
    RXE-2, RXO-1, RXD-2, RXA-5      medication

The allergen type (AL1-2 / IAM-2, HL7 table 0127) tells drug, food and environmental allergies
apart. It does not change the rule that maps the code; it is kept on the review entry as the FHIR
AllergyIntolerance category a pharmacist would read (`original.category`):

    DA, DRUG                        medication
    FA, FOOD                        food
    EA, AA, PA, LA, ENV             environment
    anything else (MA, MC, ...)     the type as sent, e.g. `MA`

CE/CWE components: 1 identifier, 2 text, 3 coding system name, 4-6 alternate triplet,
7/8 the two triplets' coding system versions, 9 original text. Coding system names (HL7
table 0396) are read as:

    SCT, SNM, SNOMED, SCT2, SNOMEDCT    http://snomed.info/sct
    RXNORM                              http://www.nlm.nih.gov/research/umls/rxnorm
    NDC                                 http://hl7.org/fhir/sid/ndc
    L, 99zzz (local)                    the sender's local system: `local_system` if given, else
                                        `local_systems[MSH-4]`, else `urn:termmap:local:<MSH-4>`
    (empty)                             no system: the text alone is translated
    anything else, e.g. ICDO, GPI, CVX  `urn:termmap:hl7v2:<NAME>` (kept for the review queue)

What may change, and nothing else:

* a field with a validated answer (exactly one target): the target goes in components 1-3
  (`code^display^SCT|RXNORM|NDC|L`) and the original components 1-3 move, byte for byte, to
  4-6 (its version, component 7, moves to 8); with `original_first` the original stays and the
  target fills 4-6. The target's display is written with python-hl7's escaping.
* after a segment with an unmapped or unvalidated field, a segment is added:

      ZTM|<n>|<status>|<review entry id>|<SEG-field>|<target candidates, ~-repeated code^display^name>

  `<n>` counts the ZTM segments of the message from 1; `<status>` is `unmapped`, `unvalidated`,
  `multiple` (validated, but several targets, e.g. a combination product's ingredients: the field
  has room for one, so it is left and the targets listed) or `alternate-occupied` (see below).
  With `flag="nte"` the same facts go in `NTE|<n>||termmap: <status> <SEG-field> review <id> ...`.

Decisions a clinician would check:

* A field whose first or alternate triplet is already in the target system is left as it is
  (the sender has said what it means there), as the FHIR transform does.
* A field whose first triplet names a coding system termmap does not know (e.g. `GPI`, `ICDO`) and
  whose alternate triplet names one it does (`NDC`, `RXNORM`, `SCT`, local) is translated from the
  alternate triplet, as the sender's second way of saying the same thing.
* A field whose alternate triplet (4-6) is already filled has no room: it is translated (so an
  unmapped code is still queued) but not rewritten; a ZTM `alternate-occupied` lists the targets.
* A field with neither identifier nor text (e.g. an empty AL1-3) is left alone, with no ZTM.
* MSH-2 written `^~\\\\&` (the escape character doubled, as a string literal in Java or C source
  leaves it; two of the shared samples) is read as `^~\\&`; the bytes stay as they are.
* The sender recorded on review entries is `<MSH-3>|<MSH-4>`, each its first component
  (namespace id), e.g. `LABSYS|HOSPITAL`.

Bytes: segments may be separated by CR, LF or CRLF; every separator is kept where it was and an
added segment uses the first separator of the message. A leading UTF-8 BOM is dropped for parsing
and written back. Text is decoded by MSH-18: `8859/1` -> latin-1, `UNICODE UTF-8` -> UTF-8,
empty/ASCII -> ASCII, falling back to UTF-8 then latin-1 when the bytes are not ASCII (so that
every untouched byte re-encodes to itself). A target display with characters the message's
encoding cannot hold gets `?` in their place.

The caller owns the transaction: review-queue counts are written on `connection`. A message's fields
are translated in the review queue's lock order (`mappings.engine.queue_order`), not the message's,
so that two messages sharing codes in opposite orders wait for each other instead of deadlocking.
"""
from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import hl7
import hl7.util
from sqlalchemy import Connection

from terminology.errors import InvalidRequest
from terminology.systems import NDC, RXNORM, SNOMED, canonical_system

from .cache import TranslationCache
from .engine import queue_order, translate
from .translation import Context, Match, SourceCoding, Status, TranslateRequest, Translation

__all__ = [
    "BOM",
    "FIELDS",
    "Hl7v2Error",
    "Outcome",
    "Hl7v2Result",
    "translate_message",
    "split_messages",
]

logger = logging.getLogger(__name__)

BOM = b"\xef\xbb\xbf"
#: segment id -> (field number, context)
FIELDS: dict[str, tuple[int, Context]] = {
    "AL1": (3, Context.ALLERGY),
    "IAM": (3, Context.ALLERGY),
    "RXE": (2, Context.MEDICATION),
    "RXO": (1, Context.MEDICATION),
    "RXD": (2, Context.MEDICATION),
    "RXA": (5, Context.MEDICATION),
}
_SYSTEM_FOR_NAME = {
    "SCT": SNOMED, "SNM": SNOMED, "SNOMED": SNOMED, "SCT2": SNOMED, "SNOMEDCT": SNOMED, "SNM3": SNOMED,
    "RXNORM": RXNORM, "NDC": NDC,
}
_NAME_FOR_SYSTEM = {SNOMED: "SCT", RXNORM: "RXNORM", NDC: "NDC"}
_CATEGORY_FOR_ALLERGEN_TYPE = {
    "DA": "medication", "DRUG": "medication", "FA": "food", "FOOD": "food",
    "EA": "environment", "AA": "environment", "PA": "environment", "LA": "environment", "ENV": "environment",
}
_FOREIGN = "urn:termmap:hl7v2:"
_LOCAL_NAME = re.compile(r"^(L|99[A-Za-z0-9]{3})$")
_SEPARATOR = re.compile(r"(\r\n|\r|\n)")
_ENCODINGS = {"8859/1": "latin-1", "UNICODE UTF-8": "utf-8", "UTF-8": "utf-8", "ASCII": "ascii", "": "ascii"}


class Hl7v2Error(InvalidRequest):
    """A message that cannot be read: names the segment and field at fault, and what is known of the MSH."""

    def __init__(self, message: str, segment: str = "MSH", field_number: int = 1, *, control_id: str = "",
                 sending: tuple[str, str] = ("", "")) -> None:
        super().__init__(message)
        self.segment = segment
        self.field_number = field_number
        self.control_id = control_id
        self.sending = sending


class Outcome(str, enum.Enum):
    """What happened to one coded field."""

    MAPPED = "mapped"  # rewritten with the validated target
    UNVALIDATED = "unvalidated"  # left; ZTM/NTE with the review entry
    UNMAPPED = "unmapped"  # left; ZTM/NTE with the review entry
    MULTIPLE = "multiple"  # validated, several targets: left; ZTM/NTE lists them
    ALTERNATE_OCCUPIED = "alternate-occupied"  # no room in 4-6: left; ZTM/NTE lists the targets
    ALREADY_CODED = "already-coded"  # a triplet already in the target system: left, no note
    SKIPPED = "skipped"  # empty field: left, no note


@dataclass
class Hl7v2Result:
    """The message back (bytes) and what was done to it."""

    message: bytes
    counts: dict[Outcome, int] = field(default_factory=lambda: {o: 0 for o in Outcome})
    review_entries: list[str] = field(default_factory=list)
    control_id: str = ""

    @property
    def translated(self) -> int:
        """Fields rewritten."""
        return self.counts[Outcome.MAPPED]


def translate_message(
    connection: Connection,
    raw: bytes,
    target_system: str,
    *,
    local_system: str | None = None,
    local_systems: Mapping[str, str] | None = None,
    original_first: bool = False,
    flag: str = "ztm",
    cache: TranslationCache | None = None,
    observe: Callable[[Translation, TranslateRequest], None] | None = None,
) -> Hl7v2Result:
    """`raw` with its allergy and medication codes translated (see the module docstring).

    Raises `Hl7v2Error` for a message that cannot be read, `UnknownTargetSystem` from the engine.
    """
    if flag not in ("ztm", "nte"):
        raise InvalidRequest("flag must be 'ztm' or 'nte'")
    if not target_system or not target_system.strip():
        raise InvalidRequest("target_system is required")
    bom = raw.startswith(BOM)
    body = raw[len(BOM):] if bom else raw
    codec, text = _decode(body)
    parts = _SEPARATOR.split(text)  # segment, separator, segment, ...
    segments, separators = parts[0::2], parts[1::2]
    newline = separators[0] if separators else "\r"
    msh = _check_msh(segments)
    fs = msh[3]
    for segment in segments:
        if "\x00" in segment:  # no stored text may hold one (PostgreSQL refuses it): name where it is
            before = segment[:segment.index("\x00")]
            raise Hl7v2Error("a NUL character is not HL7 v2 text", segment[:3] or "MSH",
                             before.count(fs) + (1 if segment.startswith("MSH") else 0),
                             control_id=_msh_field(msh, fs, 10))
    meant = _encoding_characters(msh)
    written = msh[4:].split(fs, 1)[0]
    readable = msh[:4] + meant + msh[4 + len(written):]  # python-hl7 reads MSH-2 by position
    try:
        parsed = hl7.parse("\r".join([readable] + [s for s in segments[1:] if s]))
    except Exception as exc:  # noqa: BLE001 - python-hl7 raises plain errors for malformed text
        raise Hl7v2Error(f"python-hl7 cannot parse the message: {exc}", control_id=_msh_field(msh, fs, 10)) from None
    control_id = _msh_field(msh, fs, 10)
    facility = _first_component(_msh_field(msh, fs, 4), parsed)
    sender = f"{_first_component(_msh_field(msh, fs, 3), parsed)}|{facility}"
    local = local_system or (local_systems or {}).get(facility) or f"urn:termmap:local:{facility or 'unknown'}"

    job = _Job(connection, parsed, codec, target_system, canonical_system(target_system), local, sender,
               original_first, flag, cache, observe, Hl7v2Result(b"", control_id=control_id))
    # Every field is translated first, in the review queue's lock order (so that two messages sharing codes
    # never deadlock on their review entries); then the message is rewritten in its own order.
    planned = [job.plan(segment) for segment in segments]
    job.translate_all(p for p in planned if p is not None and p.request is not None)
    out: list[str] = []
    for index, segment in enumerate(segments):
        segment, added = job.finish(segment, planned[index])
        out.append(segment)
        if index < len(separators):
            out.append(separators[index])
        for extra in added:
            if index >= len(separators):  # last segment without a separator: put one before the addition
                out.append(newline)
                out.append(extra)
            else:
                out.append(extra)
                out.append(newline)
    encoded = "".join(out).encode(codec)
    job.result.message = (BOM if bom else b"") + encoded
    logger.debug("hl7v2 %s: %s", control_id, ", ".join(f"{o.value} {n}" for o, n in job.result.counts.items()))
    return job.result


def split_messages(data: bytes) -> list[bytes]:
    """The messages in a file: MLLP frames (\\x0b ... \\x1c\\x0d), else blocks separated by blank lines."""
    if b"\x0b" in data:
        return [frame.split(b"\x1c", 1)[0] for frame in data.split(b"\x0b")[1:] if frame.strip(b"\x1c\r\n")]
    blocks = re.split(rb"(?:\r\n|\r|\n)[ \t]*(?:\r\n|\r|\n)(?=\s*(?:\xef\xbb\xbf)?MSH)", data)
    return [block.strip(b"\r\n") for block in blocks if block.strip()]


def _decode(body: bytes) -> tuple[str, str]:
    """(codec, text): the codec MSH-18 names (see the module docstring), and the text it gives."""
    head = body[:2048].decode("latin-1")
    name = ""
    if head.startswith("MSH") and len(head) > 3:
        first = _SEPARATOR.split(head, 1)[0]
        fields = first.split(head[3])
        name = fields[17].split(first[4:5] or "^")[0].strip().upper() if len(fields) > 17 else ""
    codec = _ENCODINGS.get(name, "ascii")
    for candidate in (codec, "utf-8", "latin-1"):
        try:
            return candidate, body.decode(candidate)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _check_msh(segments: list[str]) -> str:
    """The MSH segment, after checking MSH-1 and MSH-2; `Hl7v2Error` naming the field otherwise."""
    msh = segments[0] if segments else ""
    if not msh.startswith("MSH"):
        raise Hl7v2Error("the message does not start with an MSH segment", "MSH", 0)
    if len(msh) < 4 or msh[3].isalnum() or msh[3].isspace():
        raise Hl7v2Error("MSH-1 (field separator) is missing or not a separator character", "MSH", 1)
    fs = msh[3]
    encoding = _encoding_characters(msh)
    control_id = _msh_field(msh, fs, 10)
    if len(encoding) not in (4, 5) or len(set(encoding)) != len(encoding) or fs in encoding \
            or any(c.isalnum() or c.isspace() for c in encoding):
        raise Hl7v2Error(f"MSH-2 (encoding characters) must be 4 distinct separator characters, not {encoding!r}",
                         "MSH", 2, control_id=control_id)
    return msh


def _encoding_characters(msh: str) -> str:
    """MSH-2 as meant: `^~\\\\&` (the escape character doubled, as a Java or C string literal leaves it) is `^~\\&`."""
    written = msh[4:].split(msh[3], 1)[0]
    if len(written) == 5 and written[2] == written[3] == "\\":
        return written[:3] + written[4]
    return written


def _msh_field(msh: str, fs: str, number: int) -> str:
    fields = msh.split(fs)
    return fields[number - 1] if len(fields) >= number else ""


def _first_component(value: str, parsed: hl7.Message) -> str:
    return parsed.unescape(value.split(parsed.separators[3])[0]) if value else ""


@dataclass
class _Field:
    """One segment's coded field: the segment's fields, where the field is, and what to translate it with."""

    fields: list[str]  # the segment split on the field separator
    number: int  # which field (e.g. 3 for AL1-3)
    repetitions: list[str]  # the field split on the repetition separator (the first is translated)
    label: str  # e.g. `AL1-3`
    components: list[str]  # the first repetition split on the component separator
    request: TranslateRequest | None  # None: nothing to translate, for `outcome`'s reason
    outcome: Outcome | None = None  # SKIPPED or ALREADY_CODED when there is no request
    answer: Translation | None = None


@dataclass
class _Job:
    connection: Connection
    parsed: hl7.Message
    codec: str
    target_system: str
    target: str
    local: str
    sender: str
    original_first: bool
    flag: str
    cache: TranslationCache | None
    observe: Callable[[Translation, TranslateRequest], None] | None
    result: Hl7v2Result
    notes: int = 0

    def plan(self, segment: str) -> _Field | None:
        """The coded field of `segment` and the request that translates it, or None for a segment not read."""
        name = segment[:3]
        where = FIELDS.get(name)
        if where is None:
            return None
        fields = segment.split(self.parsed.separators[1])
        number, context = where
        if len(fields) <= number or not fields[number]:
            return _Field(fields, number, [], f"{name}-{number}", [], None, Outcome.SKIPPED)
        repetitions = fields[number].split(self.parsed.separators[2])
        label = f"{name}-{number}"
        components = repetitions[0].split(self.parsed.separators[3])
        ident, text, system_name = (components + ["", "", ""])[:3]
        alternate = (components[3:6] + ["", "", ""])[:3]
        code, words = self._unescape(ident).strip(), self._unescape(text).strip()
        if not code and not words:
            return _Field(fields, number, repetitions, label, components, None, Outcome.SKIPPED)
        system = self._system(system_name)
        alt_system = self._system(alternate[2]) if any(alternate) else None
        if (system and canonical_system(system) == self.target) or (alt_system and canonical_system(alt_system) == self.target):
            return _Field(fields, number, repetitions, label, components, None, Outcome.ALREADY_CODED)
        source = SourceCoding(system, code or None, words or None)
        alt_code = self._unescape(alternate[0]).strip()
        if (system or "").startswith(_FOREIGN) and alt_code and alt_system and not alt_system.startswith(_FOREIGN):
            source = SourceCoding(alt_system, alt_code, self._unescape(alternate[1]).strip() or words or None)
        category = self._category(fields[number - 1]) if context is Context.ALLERGY else None
        request = TranslateRequest(source, None, self.target_system, context, self.sender, category)
        return _Field(fields, number, repetitions, label, components, request)

    def translate_all(self, planned: Iterable[_Field]) -> None:
        """Translate each planned field, in the review queue's lock order (`mappings.engine.queue_order`)."""
        for one in sorted(planned, key=lambda p: queue_order(p.request)):
            one.answer = translate(self.connection, one.request, cache=self.cache)
            if self.observe is not None:
                self.observe(one.answer, one.request)

    def finish(self, segment: str, planned: _Field | None) -> tuple[str, list[str]]:
        """`segment` with its coded field rewritten where validated, and the segments to add after it."""
        if planned is None:
            return segment, []
        if planned.answer is None:  # nothing to translate: skipped or already coded
            self.result.counts[planned.outcome] += 1
            return segment, []
        new_first, note = self.field(planned)
        if new_first is not None:
            fs, rep = self.parsed.separators[1], self.parsed.separators[2]
            planned.repetitions[0] = new_first
            planned.fields[planned.number] = rep.join(planned.repetitions)
            segment = fs.join(planned.fields)
        return segment, [note] if note else []

    def field(self, planned: _Field) -> tuple[str | None, str | None]:
        """(the field's new text or None to keep it, a segment to add or None), from its answer."""
        cs = self.parsed.separators[3]
        components, label, answer = planned.components, planned.label, planned.answer
        ident, text, name = (components + ["", "", ""])[:3]
        alternate = (components[3:6] + ["", "", ""])[:3]
        review = answer.review.id if answer.review is not None else ""
        if review:
            self.result.review_entries.append(review)
        if answer.status is not Status.MAPPED or not answer.matches:
            outcome = Outcome.UNVALIDATED if answer.status is Status.UNVALIDATED else Outcome.UNMAPPED
            return None, self._note(outcome, label, review, answer.matches)
        if len(answer.matches) > 1:
            return None, self._note(Outcome.MULTIPLE, label, review, answer.matches)
        if any(alternate):
            return None, self._note(Outcome.ALTERNATE_OCCUPIED, label, review, answer.matches)
        self.result.counts[Outcome.MAPPED] += 1
        target = self._triplet(answer.matches[0])
        original = [ident, text, name]
        rest = components[6:]
        if self.original_first:
            return cs.join(original + target + rest), None
        if rest:
            rest = [""] + [rest[0]] + rest[2:]  # the original's version (7) moves with it to 8
        return cs.join(target + original + rest), None

    def _triplet(self, match: Match) -> list[str]:
        name = _NAME_FOR_SYSTEM.get(match.system, "L")
        return [self._escape(match.code), self._escape(match.display or ""), name]

    def _note(self, outcome: Outcome, label: str, review: str, matches) -> str:
        self.result.counts[outcome] += 1
        self.notes += 1
        fs, rep = self.parsed.separators[1], self.parsed.separators[2]
        candidates = rep.join(self.parsed.separators[3].join(self._triplet(m)) for m in matches)
        if self.flag == "nte":
            words = f"termmap: {outcome.value} {label}" + (f" review {review}" if review else "")
            if matches:
                words += " targets " + ", ".join(f"{m.code} {m.display or ''}".strip() for m in matches)
            return fs.join(["NTE", str(self.notes), "", self._escape(words)])
        return fs.join(["ZTM", str(self.notes), outcome.value, review, label, candidates]).rstrip(fs)

    def _category(self, allergen_type: str) -> str | None:
        """AL1-2 / IAM-2 as a FHIR AllergyIntolerance category (see the module docstring), None when empty."""
        kind = self._unescape(allergen_type.split(self.parsed.separators[3])[0]).strip()
        return _CATEGORY_FOR_ALLERGEN_TYPE.get(kind.upper(), kind) if kind else None

    def _system(self, name: str) -> str | None:
        name = self._unescape(name).strip()
        if not name:
            return None
        upper = name.upper()
        if upper in _SYSTEM_FOR_NAME:
            return _SYSTEM_FOR_NAME[upper]
        if _LOCAL_NAME.match(name):
            return self.local
        return f"{_FOREIGN}{name}"

    def _unescape(self, value: str) -> str:
        return self.parsed.unescape(value) if value else ""

    def _escape(self, value: str) -> str:
        """`value` escaped for this message: separators as \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ (python-hl7)."""
        value = value.encode(self.codec, "replace").decode(self.codec)
        if value.isascii():
            return hl7.util.escape(self.parsed, value)
        special = set(self.parsed.separators[1:5]) | {self.parsed.esc}
        return "".join(hl7.util.escape(self.parsed, c) if c in special or not c.isprintable() else c for c in value)
