"""Allergen and drug names as candidate search compares them: the domain knowledge, as tables and pure functions.

    >>> normalise_allergen("Amoxicillin 500mg cap")
    'amoxicillin'
    >>> normalise_allergen("PCN"), normalise_allergen("Sulfa drugs"), normalise_allergen("Paracetamol")
    ('penicillin', 'sulfonamide', 'acetaminophen')

A text becomes **words** (`key_words`), the same way for a sender's text and for a designation:

1. NFKC, casefold, NFKC (as `normalise.normalise_term`); tokens are runs of letters and digits, a number
   is split from the letters after it ("500mg" -> "500 mg"), "%" is a token of its own.
2. Each token is made canonical (`canonical_token`): `SPELLING` (British / INN / older names -> the US
   form RxNorm uses: paracetamol -> acetaminophen, cefalexin -> cephalexin, benzylpenicillin -> penicillin g),
   the rules sulph -> sulf, initial oe -> e, initial haem -> hem, aemia -> emia, then a light plural ->
   singular (allergies -> allergy, peaches -> peach, peanuts -> peanut; words in -ss, -us, -is stay).
3. `PHRASES` rewrite multi-word synonyms to one form (co-trimoxazole -> sulfamethoxazole trimethoprim,
   glyceryl trinitrate -> nitroglycerin, sulfa drug -> sulfonamide).
4. `STOP_WORDS` are dropped (of, to, the, ...), unless nothing else is left.

The **core** of the words (`core_words`) drops what does not name the allergen, in layers, and never
all of it: first strength (a number followed by a unit or dose form, and the units after it: "10 mg/ml";
so the "g" of "penicillin g" stays), dose forms and release modifiers (`DOSE_FORMS`: tab, capsule, oral,
solution, er, xl ...), salts and esters (`SALTS`: hydrochloride, hcl, sodium, potassium, sulfate ...;
only after a word of the name: "calcium channel blocker" keeps its calcium) and `NOISE` (nos,
unspecified, and the "dietary" / "edible" SNOMED CT adds to food substances). If nothing is left, salts
are kept ("sodium chloride"), then forms, then noise; a text of strength alone stays as it is.

For designations, `without_tag` drops an FSN's semantic tag and `split_qualifier` a trailing " - word"
("Salt - food"): candidate search keeps such a qualifier out of the core.

**Abbreviations** (`ABBREVIATIONS`) are expansions, not spellings: a designation that says "MS" keeps
it (multiple sclerosis is an MS too). `normalise_allergen` expands them (its result is the allergen as
a pharmacist would write it); `query_variants` gives search both the expanded and the literal form.

Display text is never changed: these forms are for comparing only.
"""
from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

__all__ = [
    "ABBREVIATIONS",
    "DOSE_FORMS",
    "NOISE",
    "PHRASES",
    "SALTS",
    "SPELLING",
    "STOP_WORDS",
    "UNITS",
    "Role",
    "canonical_phrases",
    "canonical_token",
    "canonical_words",
    "core_words",
    "expand_abbreviations",
    "fold",
    "folded_words",
    "key_words",
    "normalise_allergen",
    "query_variants",
    "raw_tokens",
    "role",
    "singular",
    "split_qualifier",
    "strength_mask",
    "without_tag",
]

# --------------------------------------------------------------------------------------------------
# Tables. Keys and values are in canonical form (lower case, singular, US spelling), except SPELLING's
# keys, which are what senders and releases write.

#: British, INN or older spellings -> the US / RxNorm form. One token -> one or more tokens.
SPELLING: dict[str, tuple[str, ...]] = {
    # British / American
    "paracetamol": ("acetaminophen",),
    "amoxycillin": ("amoxicillin",),
    "cefalexin": ("cephalexin",),
    "cephazolin": ("cefazolin",),
    "cefalotin": ("cephalothin",),
    "cefradine": ("cephradine",),
    "cefapirin": ("cephapirin",),
    "aluminium": ("aluminum",),
    "caesium": ("cesium",),
    "mould": ("mold",),
    "yoghurt": ("yogurt",),
    "colour": ("color",),
    "colouring": ("coloring",),
    "flavour": ("flavor",),
    "flavouring": ("flavoring",),
    "fibre": ("fiber",),
    "odour": ("odor",),
    "anaesthetic": ("anesthetic",),
    "anaesthesia": ("anesthesia",),
    "diarrhoea": ("diarrhea",),
    # INN / BAN -> USAN (the name RxNorm uses)
    "adrenaline": ("epinephrine",),
    "noradrenaline": ("norepinephrine",),
    "lignocaine": ("lidocaine",),
    "frusemide": ("furosemide",),
    "salbutamol": ("albuterol",),
    "pethidine": ("meperidine",),
    "rifampicin": ("rifampin",),
    "ciclosporin": ("cyclosporine",),
    "cyclosporin": ("cyclosporine",),
    "glibenclamide": ("glyburide",),
    "aciclovir": ("acyclovir",),
    "valaciclovir": ("valacyclovir",),
    "dicycloverine": ("dicyclomine",),
    "chlorphenamine": ("chlorpheniramine",),
    "colecalciferol": ("cholecalciferol",),
    "phenobarbitone": ("phenobarbital",),
    "thiopentone": ("thiopental",),
    "amfetamine": ("amphetamine",),
    "hydroxycarbamide": ("hydroxyurea",),
    "isoprenaline": ("isoproterenol",),
    "mesalazine": ("mesalamine",),
    "cromoglicate": ("cromolyn",),
    "benzylpenicillin": ("penicillin", "g"),
    "phenoxymethylpenicillin": ("penicillin", "v"),
    # dose-form abbreviations (canonical before roles are given)
    "tab": ("tablet",),
    "tabl": ("tablet",),
    "cap": ("capsule",),
    "caps": ("capsule",),
    "inj": ("injection",),
    "soln": ("solution",),
    "sol": ("solution",),
    "susp": ("suspension",),
    "oint": ("ointment",),
    "supp": ("suppository",),
    "syr": ("syrup",),
    "elix": ("elixir",),
    "chew": ("chewable",),
    "neb": ("nebulizer",),
    "ampoule": ("ampule",),
    "gm": ("g",),
    "gram": ("g",),
    "milligram": ("mg",),
    "microgram": ("mcg",),
    "µg": ("mcg",),
    "μg": ("mcg",),
    "ug": ("mcg",),
    "milliliter": ("ml",),
    "millilitre": ("ml",),
    "unt": ("unit",),
}

#: Multi-word synonyms -> one form (on canonical tokens). Applied to texts and designations alike.
PHRASES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("co", "trimoxazole"): ("sulfamethoxazole", "trimethoprim"),
    ("cotrimoxazole",): ("sulfamethoxazole", "trimethoprim"),
    ("trimoxazole",): ("sulfamethoxazole", "trimethoprim"),
    ("co", "amoxiclav"): ("amoxicillin", "clavulanate"),
    ("coamoxiclav",): ("amoxicillin", "clavulanate"),
    ("glyceryl", "trinitrate"): ("nitroglycerin",),
    ("acetylsalicylic", "acid"): ("aspirin",),
    ("sulfa",): ("sulfonamide",),
    ("sulfa", "drug"): ("sulfonamide",),
    ("sulfa", "antibiotic"): ("sulfonamide",),
    ("sulfonamide", "drug"): ("sulfonamide",),
    ("non", "steroidal", "anti", "inflammatory", "drug"): ("non", "steroidal", "anti", "inflammatory"),
    ("non", "steroidal", "anti", "inflammatory", "agent"): ("non", "steroidal", "anti", "inflammatory"),
    ("nonsteroidal", "anti", "inflammatory"): ("non", "steroidal", "anti", "inflammatory"),
    ("nonsteroidal", "antiinflammatory"): ("non", "steroidal", "anti", "inflammatory"),
    ("penicillin", "vk"): ("penicillin", "v", "potassium"),
    # SNOMED CT product classes: "Product containing amoxicillin", "Amoxicillin-containing product"
    ("product", "containing"): ("containing",),
    ("containing", "product"): ("containing",),
}

#: Clinical abbreviations -> expansions (canonical tokens). The first expansion is the normal form;
#: the others are extra search variants. Keys are whole tokens (or token runs) of the text.
ABBREVIATIONS: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {
    ("pcn",): (("penicillin",),),
    ("pcn", "vk"): (("penicillin", "v", "potassium"),),
    ("pen", "vk"): (("penicillin", "v", "potassium"),),
    ("pcn", "g"): (("penicillin", "g"),),
    ("pen", "g"): (("penicillin", "g"),),
    ("asa",): (("aspirin",),),
    ("apap",): (("acetaminophen",),),
    ("smx", "tmp"): (("sulfamethoxazole", "trimethoprim"),),
    ("tmp", "smx"): (("sulfamethoxazole", "trimethoprim"),),
    ("smz", "tmp"): (("sulfamethoxazole", "trimethoprim"),),
    ("tmp", "smz"): (("sulfamethoxazole", "trimethoprim"),),
    ("hctz",): (("hydrochlorothiazide",),),
    ("mso4",): (("morphine", "sulfate"),),
    ("ms",): (("morphine", "sulfate"),),
    ("ntg",): (("nitroglycerin",),),
    ("acei",): (("ace", "inhibitor"), ("angiotensin", "converting", "enzyme", "inhibitor")),
    ("ace", "i"): (("ace", "inhibitor"), ("angiotensin", "converting", "enzyme", "inhibitor")),
    ("arb",): (("angiotensin", "receptor", "blocker"), ("angiotensin", "ii", "receptor", "antagonist")),
    ("nsaid",): (("non", "steroidal", "anti", "inflammatory"),),
    ("ssri",): (("selective", "serotonin", "reuptake", "inhibitor"),),
    ("ppi",): (("proton", "pump", "inhibitor"),),
    ("mtx",): (("methotrexate",),),
    ("inh",): (("isoniazid",),),
    ("5", "fu"): (("fluorouracil",),),
    ("hcq",): (("hydroxychloroquine",),),
    ("tcn",): (("tetracycline",),),
    ("kcl",): (("potassium", "chloride"),),
    ("abx",): (("antibiotic",),),
    ("ivp", "dye"): (("iodinated", "contrast", "media"),),
}

#: Salts, esters and hydrates: dropped from the core of a name that has something else in it.
SALTS = frozenset({
    "hydrochloride", "dihydrochloride", "hcl", "hydrobromide", "hbr", "sodium", "disodium", "potassium",
    "sulfate", "bisulfate", "phosphate", "diphosphate", "maleate", "tartrate", "bitartrate", "acetate",
    "succinate", "ethylsuccinate", "besylate", "besilate", "mesylate", "mesilate", "citrate", "calcium",
    "magnesium", "benzathine", "procaine", "fumarate", "hyclate", "monohydrate", "dihydrate", "trihydrate",
    "hemihydrate", "anhydrous", "bromide", "chloride", "propionate", "dipropionate", "valerate", "butyrate",
    "gluconate", "lactate", "nitrate", "oxalate", "pamoate", "stearate", "tosylate", "tromethamine",
    "trometamol", "meglumine", "decanoate", "enanthate", "cypionate", "estolate",
    "hydrate", "trihydrochloride", "mononitrate", "dinitrate", "napsylate", "palmitate",
})

#: Dose forms, routes, release modifiers and packages (canonical spellings). Words that also name foods
#: or other allergens (cream, syrup, powder, gel, spray, patch, gum, wafer ...) are left out on purpose.
DOSE_FORMS = frozenset({
    "tablet", "capsule", "injection", "injectable", "solution", "suspension", "oral", "er", "xr", "xl", "sr",
    "cr", "dr", "la", "ec", "ir", "ds", "odt", "extended", "delayed", "sustained", "controlled", "prolonged",
    "modified", "release", "chewable", "elixir", "ointment", "lotion", "inhaler", "inhalant", "inhalation",
    "nebulizer", "vial", "ampule", "syringe", "prefilled", "cartridge", "topical", "ophthalmic", "otic",
    "nasal", "rectal", "vaginal", "suppository", "lozenge", "coated", "dispersible", "effervescent",
    "transdermal", "intravenous", "intramuscular", "subcutaneous", "sublingual", "buccal", "sl", "iv", "im",
    "sc", "po", "enteric", "disintegrating", "orally", "granule", "sachet", "emulsion", "concentrate",
    "infusion", "dose", "form", "metered", "aerosol", "pellet", "implant", "mouthwash", "tincture",
})

#: Units of strength (after a number).
UNITS = frozenset({
    "mg", "mcg", "g", "kg", "ml", "l", "dl", "meq", "mmol", "mol", "unit", "iu", "%", "hr", "h", "actuat",
    "mg/ml", "ng", "cell", "million", "mu", "bau", "au", "pnu",
})

#: Words that qualify a term without naming anything: SNOMED CT food substances say "Peanut - dietary",
#: product classes "Product containing only X" (the phrase "product containing" becomes "containing").
NOISE = frozenset({"nos", "unspecified", "dietary", "edible", "containing", "only", "precisely"})

STOP_WORDS = frozenset({"of", "to", "the", "and", "with", "or", "by", "for", "on", "at", "a", "an", "s", "per"})

# --------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[0-9]+(?:\.[0-9]+)*|[^\W\d_][^\W_]*|%")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)*")


class Role(str, enum.Enum):
    """What a canonical word is to an allergen name."""

    WORD = "word"
    SALT = "salt"
    FORM = "form"
    UNIT = "unit"
    NUMBER = "number"
    NOISE = "noise"


def fold(text: str) -> str:
    """NFKC, casefolded, NFKC again (casefolding can undo NFKC): the text every other step reads."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def raw_tokens(folded: str) -> list[str]:
    """Runs of letters and digits of a folded text; a number is split from letters after it; "%" kept."""
    return _TOKEN.findall(folded)


def singular(token: str) -> str:
    """A light English singular: allergies -> allergy, peaches -> peach, peanuts -> peanut; -ss/-us/-is stay."""
    if len(token) <= 3 or not token.endswith("s") or not token.isalpha():
        return token
    if token.endswith(("ss", "us", "is")):
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("sses", "shes", "ches", "xes", "zzes")) or (token.endswith("oes") and len(token) > 5):
        return token[:-2]
    return token[:-1]


def _spelling_rules(token: str) -> str:
    if "sulph" in token:
        token = token.replace("sulph", "sulf")
    if token.startswith("oe") and len(token) > 4:
        token = "e" + token[2:]
    if token.startswith("haem") and len(token) > 5:
        token = "hem" + token[4:]
    if token.endswith("aemia") and len(token) > 6:
        token = token[:-5] + "emia"
    return token


def _canonical_once(token: str) -> tuple[str, ...]:
    if token in SPELLING:
        return SPELLING[token]
    changed = singular(_spelling_rules(token))
    return SPELLING.get(changed, (changed,))


@lru_cache(maxsize=1 << 18)
def canonical_token(token: str) -> tuple[str, ...]:
    """The canonical form of one token (spelling, then singular), as one or more tokens; a fixed point."""
    current: tuple[str, ...] = (token,)
    for _ in range(6):
        following = tuple(part for piece in current for part in _canonical_once(piece))
        if following == current:
            break
        current = following
    return current


@lru_cache(maxsize=1 << 18)
def role(word: str) -> Role:
    """The role of a canonical word on its own (a number's strength depends on what follows it)."""
    if word in SALTS:
        return Role.SALT
    if word in DOSE_FORMS:
        return Role.FORM
    if word in UNITS:
        return Role.UNIT
    if word in NOISE:
        return Role.NOISE
    if _NUMBER.fullmatch(word):
        return Role.NUMBER
    return Role.WORD


_PHRASE_FIRST = frozenset(key[0] for key in PHRASES)
_PHRASE_LONGEST = max(len(key) for key in PHRASES)
_ABBREVIATION_FIRST = frozenset(key[0] for key in ABBREVIATIONS)
_ABBREVIATION_LONGEST = max(len(key) for key in ABBREVIATIONS)


def _rewrite(words: Sequence[str], table: dict, first: frozenset[str], longest: int, pick) -> list[str]:
    """Longest-first, left-to-right replacement of token runs found in `table`."""
    if not first.intersection(words):
        return list(words)
    out: list[str] = []
    i, n = 0, len(words)
    while i < n:
        if words[i] in first:
            for size in range(min(longest, n - i), 0, -1):
                replacement = table.get(tuple(words[i:i + size]))
                if replacement is not None:
                    out.extend(pick(replacement))
                    i += size
                    break
            else:
                out.append(words[i])
                i += 1
        else:
            out.append(words[i])
            i += 1
    return out


def canonical_phrases(words: Sequence[str]) -> list[str]:
    """`words` with every `PHRASES` key replaced by its canonical form, until none is left."""
    current = list(words)
    for _ in range(8):
        following = _rewrite(current, PHRASES, _PHRASE_FIRST, _PHRASE_LONGEST, lambda r: r)
        if following == current:
            break
        current = following
    return current


def canonical_words(tokens: Iterable[str]) -> list[str]:
    """Canonical tokens with `PHRASES` applied (stop words still in)."""
    return canonical_phrases([part for token in tokens for part in canonical_token(token)])


def _without_stop_words(words: list[str]) -> list[str]:
    kept = [w for w in words if w not in STOP_WORDS]
    return kept or words


def folded_words(folded: str) -> list[str]:
    """The canonical words of an already folded text (steps 2-4 of the module docstring)."""
    return _without_stop_words(canonical_words(raw_tokens(folded)))


def key_words(text: str) -> list[str]:
    """The canonical words of a text (steps 1-4 of the module docstring)."""
    return folded_words(fold(text))


def strength_mask(words: Sequence[str]) -> list[bool]:
    """True for words that state a strength or amount: a number followed by a unit or form, and its units."""
    n = len(words)
    mask = [False] * n
    i = 0
    while i < n:
        if role(words[i]) is Role.NUMBER and i + 1 < n and role(words[i + 1]) in (Role.UNIT, Role.FORM):
            mask[i] = True
            j = i + 1
            while j < n:
                current = role(words[j])
                if current is Role.UNIT:
                    mask[j] = True
                    j += 1
                elif current is Role.NUMBER and j + 1 < n and role(words[j + 1]) is Role.UNIT:
                    mask[j] = True
                    j += 1
                else:
                    break
            i = j
        else:
            i += 1
    return mask


_LAYERS = (
    frozenset({Role.SALT, Role.FORM, Role.NOISE}),
    frozenset({Role.FORM, Role.NOISE}),
    frozenset({Role.NOISE}),
    frozenset(),
)


def core_words(words: Sequence[str]) -> list[str]:
    """The words that name the allergen: strength, forms, salts and noise dropped, in layers, never to nothing."""
    if not words:
        return []
    roles = [role(w) for w in words]
    if all(r is Role.WORD for r in roles):
        return list(words)
    if Role.SALT in roles:  # a salt names the salt, not a salt form, unless it follows a word
        first_word = next((i for i, r in enumerate(roles) if r is Role.WORD), len(roles))
        roles = [Role.WORD if r is Role.SALT and i < first_word else r for i, r in enumerate(roles)]
    strength = strength_mask(words) if Role.NUMBER in roles else [False] * len(words)
    for dropped in _LAYERS:
        kept = [w for w, r, s in zip(words, roles, strength) if not s and r not in dropped]
        if kept:
            return kept
    return list(words)


_WORD = re.compile(r"\w+")
_TAG = re.compile(r"\s*\(([^()]*)\)\s*$")


def without_tag(folded: str, tag: str | None) -> str:
    """A folded FSN without its semantic tag, written `(tag)` or, as in a normalised term, ` tag` at the end."""
    if not tag:
        return folded
    found = _TAG.search(folded)
    if found and found.group(1) == tag:
        return folded[: found.start()]
    if folded.endswith(" " + tag):
        return folded[: -len(tag) - 1]
    return folded


def split_qualifier(folded: str) -> tuple[str, str]:
    """(term, qualifier) of a designation ending in ` - word[s]`, as SNOMED CT's "Salt - food"; else (text, "")."""
    main, separator, qualifier = folded.rpartition(" - ")
    words = qualifier.split()
    if not separator or not 1 <= len(words) <= 2 or not all(_WORD.fullmatch(w) for w in words) \
            or not _WORD.search(main):
        return folded, ""
    return main.rstrip(), " ".join(words)


def expand_abbreviations(words: Sequence[str], alternative: int = 0) -> list[str]:
    """`words` with every `ABBREVIATIONS` key replaced by its expansion number `alternative` (else its first)."""
    return canonical_phrases(_rewrite(
        words, ABBREVIATIONS, _ABBREVIATION_FIRST, _ABBREVIATION_LONGEST,
        lambda forms: forms[alternative] if alternative < len(forms) else forms[0],
    ))


def query_variants(text: str) -> list[tuple[list[str], bool]]:
    """The word lists search tries for a text: (words, expanded?) - abbreviations expanded first, then literal."""
    literal = _without_stop_words(canonical_words(raw_tokens(fold(text))))
    variants: list[tuple[list[str], bool]] = []
    if _ABBREVIATION_FIRST.intersection(literal):
        most = max((len(v) for k, v in ABBREVIATIONS.items() if k[0] in literal), default=1)
        for alternative in range(most):
            expanded = _without_stop_words(expand_abbreviations(literal, alternative))
            if expanded != literal and all(expanded != seen for seen, _ in variants):
                variants.append((expanded, True))
    variants.append((literal, False))
    return variants


def _normalise_once(text: str) -> str:
    folded = fold(text)
    words = _without_stop_words(expand_abbreviations(canonical_words(raw_tokens(folded))))
    if not words:
        return " ".join(folded.split())
    return " ".join(core_words(words))


def normalise_allergen(text: str) -> str:
    """The compare-ready form of an allergen or drug name: canonical words, abbreviations expanded, core only.

    Idempotent; empty only for a text that is empty or white space; never raises on a str.
    """
    current = _normalise_once(text)
    for _ in range(16):
        following = _normalise_once(current)
        if following == current:
            break
        current = following
    return current
