"""In-memory indexes for candidate search at release scale: one per active release, cached per process.

A `ReleaseIndex` holds every designation of one release as its canonical words (`clinical_text.key_words`;
a designation repeating another of the same concept is kept once), an inverted index from word to
designations, per-word IDF, and a character-trigram index over the words themselves (for misspellings).
`retrieve` turns a query's words into a bounded pool of designations by weighted word overlap, so that
search scores a few hundred terms with rapidfuzz instead of the whole release.

A `BrandIndex` (RxNorm only) maps brand names to the names of their ingredients: BN concepts through
RXNREL `tradename_of` to IN / PIN / MIN; a brand with no such link, through the ingredient words of an
SBD / BPCK whose name ends in `[Brand]`.

Both are built on first use, from the store, and cached by (store, release id, checksum): a release
switch activates a new id, so the next search builds the new release's index and the replaced one is
dropped from the cache. `warm` builds them ahead (after a load, at start-up). Arrays are numpy. At release
scale (1.26M SNOMED CT designations, 1.0M distinct per concept) the index builds in about 14 s and costs
about 130 MB of RSS; with RxNorm's (0.33M) about 170 MB in all (see benchmarks/candidates.py). A build
reads through the store's connection, so SQLite's page cache fills too (the store's own, up to 256 MB).
"""
from __future__ import annotations

import bisect
import ctypes
import logging
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from rapidfuzz import fuzz, process
from sqlalchemy import Connection, select

from . import schema
from .clinical_text import (
    PHRASES,
    STOP_WORDS,
    Role,
    canonical_phrases,
    canonical_token,
    core_words,
    folded_words,
    key_words,
    raw_tokens,
    role,
    split_qualifier,
    without_tag,
)
from .model import ReleaseStatus
from .normalise import normalise_term
from .queries import RXNORM_INGREDIENT_TTYS, RXNORM_PRODUCT_TTYS, SNOMED_PRODUCT_TAGS
from .systems import RXNORM, SNOMED

__all__ = [
    "Kind",
    "ActiveRelease",
    "ReleaseIndex",
    "BrandIndex",
    "active_releases",
    "release_index",
    "brand_index",
    "warm",
    "clear_cache",
    "cached",
    "kind_of",
    "designation_key",
    "doc_forms",
]

logger = logging.getLogger(__name__)


class Kind(IntEnum):
    """The semantic kind of a designation's concept, as context filtering sees it."""

    UNKNOWN = 0  # no kind recorded (local tables, a concept without FSN)
    AGENT = 1  # SNOMED substance, organism, physical object, physical force; RxNorm IN, PIN, MIN
    PRODUCT_CLASS = 2  # SNOMED "Product containing X" classes: tags "medicinal product", "product"
    PRODUCT = 3  # SNOMED clinical drug, medicinal product form ...; RxNorm SCD, SBD, SCDC, GPCK ...
    BRAND = 4  # RxNorm BN
    ALLERGY_CONDITION = 5  # SNOMED finding / disorder / situation whose words say allergy or intolerance
    OTHER = 6  # every other kind (procedures, body structures, RxNorm DF ...)


#: SNOMED CT semantic tags of the things one can be allergic to (the range of |Causative agent|).
SNOMED_AGENT_TAGS = frozenset({"substance", "organism", "physical object", "physical force"})
#: SNOMED CT tags of product classes ("Product containing amoxicillin (medicinal product)").
SNOMED_PRODUCT_CLASS_TAGS = frozenset({"medicinal product", "product"})
#: SNOMED CT tags of a concept that can be an allergy condition, when its words say so.
SNOMED_CONDITION_TAGS = frozenset({"finding", "disorder", "situation"})
#: Words that make a finding, disorder or situation an allergy condition.
ALLERGY_WORDS = frozenset({
    "allergy", "allergic", "intolerance", "hypersensitivity", "anaphylaxis", "anaphylactic", "sensitivity",
    "pseudoallergy",
})
_SNOMED_PRODUCT_TAGS = frozenset(SNOMED_PRODUCT_TAGS) | {"real clinical drug", "packaged clinical drug",
                                                          "real medicinal product", "medicinal product form"}


def kind_of(system: str, concept_kind: str | None, words: Iterable[str] = ()) -> Kind:
    """The `Kind` of a designation from its concept's kind (SNOMED semantic tag, RxNorm TTY) and its words."""
    if not concept_kind:
        return Kind.UNKNOWN
    if system == RXNORM:
        if concept_kind in RXNORM_INGREDIENT_TTYS:
            return Kind.AGENT
        if concept_kind == "BN":
            return Kind.BRAND
        if concept_kind in RXNORM_PRODUCT_TTYS:
            return Kind.PRODUCT
        return Kind.OTHER if concept_kind in {"DF", "DFG", "ET"} else Kind.UNKNOWN
    if system == SNOMED:
        if concept_kind in SNOMED_AGENT_TAGS:
            return Kind.AGENT
        if concept_kind in SNOMED_PRODUCT_CLASS_TAGS:
            return Kind.PRODUCT_CLASS
        if concept_kind in _SNOMED_PRODUCT_TAGS:
            return Kind.PRODUCT
        if concept_kind in SNOMED_CONDITION_TAGS and not ALLERGY_WORDS.isdisjoint(words):
            return Kind.ALLERGY_CONDITION
        return Kind.OTHER
    return Kind.UNKNOWN


def designation_key(term: str, tag: str | None = None, words_of=folded_words) -> str:
    """The index key of a designation: its canonical words, then ` | ` and the words of a ` - qualifier`.

    `tag` is the concept's semantic tag, stripped from an FSN. Keys are what the index compares.
    """
    text = without_tag(normalise_term(term), normalise_term(tag) if tag else None)
    main, qualifier = split_qualifier(text)
    words = " ".join(words_of(main))
    if not words:
        return " ".join(words_of(text))
    qualifier_words = " ".join(words_of(qualifier)) if qualifier else ""
    return f"{words} | {qualifier_words}" if qualifier_words else words


def doc_forms(key: str) -> tuple[str, str]:
    """(full words, core words) of an index key, each space-joined; the core leaves out a qualifier."""
    main, _, qualifier = key.partition(" | ")
    core = " ".join(core_words(main.split()))
    return (f"{main} {qualifier}" if qualifier else main), core


@dataclass(frozen=True, slots=True)
class ActiveRelease:
    """What keys an index: the store, and the release's id, system and checksum."""

    store: str
    id: int
    system: str
    checksum: str


def _store_id(connection: Connection) -> str:
    url = connection.engine.url
    if url.get_backend_name() == "sqlite" and (not url.database or url.database == ":memory:"):
        return f"sqlite-memory:{id(connection.engine)}"
    return url.render_as_string(hide_password=True)


def active_releases(connection: Connection, systems: Iterable[str] | None = None) -> list[ActiveRelease]:
    """The active releases (of `systems` when given), as index keys. Read on every search: cheap on purpose."""
    rows = connection.exec_driver_sql(_ACTIVE_SQL).all()
    store = _store_id(connection)
    wanted = None if systems is None else set(systems)
    return [ActiveRelease(store, int(rid), system, checksum) for rid, system, checksum in rows
            if wanted is None or system in wanted]


_ACTIVE_SQL = f"SELECT id, system, checksum FROM releases WHERE status = '{ReleaseStatus.ACTIVE.value}' ORDER BY id"


# --------------------------------------------------------------------------------------------------
# The index of one release


class _WordsOf:
    """Designation text -> canonical words (as `clinical_text.key_words`), with per-token caches.

    The build reads 1.6M terms, so the per-term path is a comprehension over cached tuples; `special`
    collects every word whose role is not a plain word, so most terms skip `core_words` work.
    """

    def __init__(self) -> None:
        self._phrase_first = frozenset(key[0] for key in PHRASES)
        self.special: set[str] = set()
        special, roles = self.special, role

        class Canonical(dict):
            def __missing__(cache, token: str) -> tuple[str, ...]:
                found = cache[token] = canonical_token(token)
                special.update(word for word in found if roles(word) is not Role.WORD)
                return found

        self._canonical = Canonical()
        for replacement in PHRASES.values():
            special.update(word for word in replacement if role(word) is not Role.WORD)

    def __call__(self, folded: str) -> list[str]:
        cache = self._canonical
        tokens = raw_tokens(folded)
        words = [word for token in tokens for word in cache[token]]
        if not self._phrase_first.isdisjoint(words):
            words = canonical_phrases(words)
        if STOP_WORDS.isdisjoint(words):
            return words
        kept = [w for w in words if w not in STOP_WORDS]
        return kept or words

    def core(self, words: list[str]) -> list[str]:
        """`core_words(words)`, quickly for words that are all plain."""
        return words if self.special.isdisjoint(words) else core_words(words)


def _stream(connection: Connection, query, batch: int):
    """Rows of `query` in batches, through the driver (the build reads every designation of a release)."""
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    driver = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":  # server-side: no 1.6M-row buffer in the client
        cursor = driver.cursor(name=f"termmap_candidate_index_{id(query)}", withhold=bool(driver.autocommit))
    else:
        cursor = driver.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            yield from rows
    finally:
        cursor.close()


def _return_freed_memory() -> None:
    """Give the build's freed heap back to the OS (glibc keeps it otherwise; ~250 MB at release scale)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _trigrams(word: str) -> list[str]:
    padded = f"^{word}$"
    return [padded[i:i + 3] for i in range(len(padded) - 2)]


def _csr(keys: np.ndarray, values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values sorted by key): values of key k are values[offsets[k]:offsets[k + 1]]."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=size)
    offsets = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets, values[order]


class ReleaseIndex:
    """Designations of one release as canonical words, with an inverted index. Build with `ReleaseIndex.build`."""

    #: A word in more than this share of designations is not used to find candidates when the query has others.
    COMMON_SHARE = 0.04

    def __init__(self, release: ActiveRelease) -> None:
        self.release = release
        self.seconds = 0.0

    # ---- build ------------------------------------------------------------------------------------

    @classmethod
    def build(cls, connection: Connection, release: ActiveRelease, *, batch: int = 20_000) -> ReleaseIndex:
        """Read the release's concepts and designations and index them."""
        started = time.perf_counter()
        index = cls(release)
        c, d = schema.concepts, schema.designations
        code_index: dict[str, int] = {}
        codes: list[str] = []
        active: list[bool] = []
        concept_kinds: list[str | None] = []
        for row in connection.execute(select(c.c.code, c.c.active, c.c.kind).where(c.c.release_id == release.id)):
            code_index[row.code] = len(codes)
            codes.append(row.code)
            active.append(bool(row.active))
            concept_kinds.append(row.kind)

        words_of = _WordsOf()
        tags = {kind: normalise_term(kind) for kind in set(concept_kinds) if kind}
        base_kind = {kind: kind_of(release.system, kind) for kind in tags}
        conditions = {kind for kind in tags if kind in SNOMED_CONDITION_TAGS} if release.system == SNOMED else set()

        class Vocabulary(dict):
            def __missing__(vocab, word: str) -> int:
                word_id = vocab[word] = len(vocab)
                return word_id

        vocab = Vocabulary()
        doc_concept = array("i")
        doc_kind = bytearray()
        keys = bytearray()
        key_ends = array("q")
        post_word, post_doc = array("i"), array("i")  # one entry per (designation, distinct word)
        core_word, core_doc = array("i"), array("i")  # one entry per (designation, distinct core word)
        last_concept, seen = -1, set()
        for code, term_norm, term_type in _stream(connection, select(d.c.code, d.c.term_norm, d.c.type).where(
            d.c.release_id == release.id
        ), batch):
            concept = code_index.get(code)
            if concept is None:
                continue
            kind_name = concept_kinds[concept]
            if term_type == "fsn" and kind_name:
                term_norm = without_tag(term_norm, tags[kind_name])
            qualifier = ""
            if " - " in term_norm:
                term_norm, qualifier = split_qualifier(term_norm)
            words = words_of(term_norm)
            if not words:
                continue
            key = " ".join(words)
            if qualifier and (qualifier_words := words_of(qualifier)):
                key = f"{key} | {' '.join(qualifier_words)}"
                main, words = words, words + qualifier_words
            else:
                main = words
            if concept != last_concept:
                last_concept, seen = concept, set()
            elif key in seen:
                continue
            seen.add(key)
            doc = len(doc_concept)
            keys += key.encode()
            key_ends.append(len(keys))
            doc_concept.append(concept)
            if kind_name in conditions:
                doc_kind.append(kind_of(release.system, kind_name, words))
            else:
                doc_kind.append(base_kind.get(kind_name, Kind.UNKNOWN) if kind_name else Kind.UNKNOWN)
            distinct = set(words)
            post_word.extend([vocab[word] for word in distinct])
            post_doc.extend([doc] * len(distinct))
            core = words_of.core(main)
            if core is not words:
                distinct = set(core)
            core_word.extend([vocab[word] for word in distinct])
            core_doc.extend([doc] * len(distinct))
        del code_index
        index._finish(codes, active, dict(vocab), bytes(keys), key_ends, doc_concept, doc_kind, post_word, post_doc,
                      core_word, core_doc)
        index.seconds = time.perf_counter() - started
        if index.size > 100_000:
            _return_freed_memory()
        logger.log(logging.INFO if index.seconds >= 1 else logging.DEBUG,
                   "candidate index for release %s: %d designations, %d words, %.1f s",
                   release.id, index.size, len(index.words), index.seconds)
        return index

    def _finish(self, codes, active, vocab, keys, key_ends, doc_concept, doc_kind, post_word, post_doc, core_word,
                core_doc) -> None:
        self.size = n_docs = len(doc_concept)
        # Concepts: numeric codes (SNOMED CT, RxNorm) as int64, others as a list.
        if all(code.isascii() and code.isdigit() and len(code) < 19 and (code == "0" or code[0] != "0")
               for code in codes):
            self._codes_int: np.ndarray | None = np.array([int(code) for code in codes], dtype=np.int64)
            self._codes: list[str] | None = None
        else:
            self._codes_int, self._codes = None, list(codes)
        self.concept_active = np.array(active, dtype=bool)
        # Designations: canonical words as one utf-8 blob with offsets.
        self._keys = keys
        self._key_offsets = np.zeros(n_docs + 1, dtype=np.int64)
        self._key_offsets[1:] = np.frombuffer(key_ends, dtype=np.int64)
        self.doc_concept = np.frombuffer(doc_concept, dtype=np.int32).copy()
        self.doc_kind = np.frombuffer(bytes(doc_kind), dtype=np.uint8).copy()
        # Words.
        self.words: list[str] = [""] * len(vocab)
        for word, word_id in vocab.items():
            self.words[word_id] = word
        self.vocab = vocab
        words_arr = np.frombuffer(post_word, dtype=np.int32)
        docs_arr = np.frombuffer(post_doc, dtype=np.int32)
        self.df = np.bincount(words_arr, minlength=len(vocab)).astype(np.int32)
        self.idf = np.log1p(n_docs / np.maximum(self.df, 1)).astype(np.float32)
        self._post_offsets, self._postings = _csr(words_arr, docs_arr, len(vocab))
        del words_arr, docs_arr
        core_words_arr = np.frombuffer(core_word, dtype=np.int32)
        self.doc_weight = np.bincount(
            np.frombuffer(core_doc, dtype=np.int32), weights=self.idf[core_words_arr], minlength=n_docs
        ).astype(np.float32)
        self.max_idf = float(self.idf.max()) if len(vocab) else 1.0
        self.common = max(1000, int(n_docs * self.COMMON_SHARE))
        # Words sorted (prefixes) and their character trigrams (misspellings).
        order = sorted(range(len(self.words)), key=self.words.__getitem__)
        self._sorted_words = [self.words[i] for i in order]
        self._sorted_ids = np.array(order, dtype=np.int32)
        gram_ids: dict[str, int] = {}
        gram_of: list[int] = []
        word_of: list[int] = []
        for word_id, word in enumerate(self.words):
            if len(word) < 3 or word[0].isdigit():
                continue
            for gram in set(_trigrams(word)):
                gram_id = gram_ids.get(gram)
                if gram_id is None:
                    gram_id = gram_ids[gram] = len(gram_ids)
                gram_of.append(gram_id)
                word_of.append(word_id)
        self._grams = gram_ids
        self._gram_offsets, self._gram_words = _csr(
            np.array(gram_of, dtype=np.int32), np.array(word_of, dtype=np.int32), len(gram_ids)
        )
        self._matches: dict[str, list[tuple[int, float]]] = {}

    # ---- reading ----------------------------------------------------------------------------------

    def key(self, doc: int) -> str:
        """The canonical words of designation `doc`, space-separated."""
        return self._keys[self._key_offsets[doc]:self._key_offsets[doc + 1]].decode()

    def code(self, concept: int) -> str:
        """The code of concept number `concept`."""
        if self._codes_int is not None:
            return str(int(self._codes_int[concept]))
        assert self._codes is not None
        return self._codes[concept]

    def nbytes(self) -> int:
        """Bytes held by the index's arrays (Python lists and dicts not counted)."""
        arrays = [self.concept_active, self._key_offsets, self.doc_concept, self.doc_kind, self.df, self.idf,
                  self._post_offsets, self._postings, self.doc_weight, self._sorted_ids, self._gram_offsets,
                  self._gram_words]
        if self._codes_int is not None:
            arrays.append(self._codes_int)
        return sum(a.nbytes for a in arrays) + len(self._keys)

    # ---- finding candidates -----------------------------------------------------------------------

    def match_word(self, word: str) -> list[tuple[int, float]]:
        """Index words that stand for `word`: itself; else near spellings, completions, or a split in two."""
        cached = self._matches.get(word)
        if cached is not None:
            return cached
        found = self._match_word(word)
        if len(self._matches) >= 8192:  # a bounded memo; plain dict operations are safe across threads
            self._matches = {}
        self._matches[word] = found
        return found

    def _match_word(self, word: str) -> list[tuple[int, float]]:
        best: dict[int, float] = {}
        known = self.vocab.get(word)
        if known is not None:
            best[known] = 1.0
        if len(word) < 4 or word[0].isdigit():
            return list(best.items())
        # Near spellings: words sharing character trigrams, scored by rapidfuzz ratio (stricter for a known word).
        grams = [self._grams[g] for g in set(_trigrams(word)) if g in self._grams]
        if grams:
            offsets = self._gram_offsets
            shared = np.concatenate([self._gram_words[offsets[g]:offsets[g + 1]] for g in grams])
            ids, counts = np.unique(shared, return_counts=True)
            keep = counts >= max(2, len(grams) // 3)
            ids, counts = ids[keep], counts[keep]
            if len(ids) > 200:
                ids = ids[np.argpartition(-counts, 200)[:200]]
            choices = {int(i): self.words[int(i)] for i in ids if int(i) != known}
            cutoff = 85 if known is not None else (80 if len(word) < 7 else 75)
            for _, score, word_id in process.extract(word, choices, scorer=fuzz.ratio, score_cutoff=cutoff,
                                                     limit=3 if known is not None else 5):
                best[word_id] = max(best.get(word_id, 0.0), score / 100)
        # Completions of the word ("beet" -> "beetroot", a truncated "amox" -> "amoxicillin").
        start = bisect.bisect_left(self._sorted_words, word)
        for position in range(start, min(start + 6, len(self._sorted_words))):
            candidate = self._sorted_words[position]
            if not candidate.startswith(word):
                break
            word_id = int(self._sorted_ids[position])
            if word_id != known:
                best[word_id] = max(best.get(word_id, 0.0), 0.7 if known is not None else 0.8)
        # A compound written as one word ("soybean" -> "soy bean"), when the word itself is unknown or rare.
        if len(word) >= 6 and (known is None or self.df[known] <= 5):
            for split in range(3, len(word) - 2):
                left, right = self.vocab.get(word[:split]), self.vocab.get(word[split:])
                if left is not None and right is not None:
                    best[left] = max(best.get(left, 0.0), 0.9)
                    best[right] = max(best.get(right, 0.0), 0.9)
                    break
        return sorted(best.items(), key=lambda item: -item[1])

    def retrieve(
        self, variants: Sequence[Sequence[str]], allowed: np.ndarray | None, pool: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Up to `pool` designations for the query word lists: (designation ids, overlap scores 0-1), best first.

        `allowed` is a boolean table indexed by `Kind` (None: every kind).
        """
        found_docs, found_scores = [], []
        for words in variants:
            docs, scores = self._retrieve_one(words)
            if len(docs):
                found_docs.append(docs)
                found_scores.append(scores)
        if not found_docs:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)
        docs = np.concatenate(found_docs)
        scores = np.concatenate(found_scores)
        if allowed is not None:
            keep = allowed[self.doc_kind[docs]]
            docs, scores = docs[keep], scores[keep]
        if len(found_docs) > 1 and len(docs):
            order = np.lexsort((-scores, docs))
            docs, scores = docs[order], scores[order]
            first = np.ones(len(docs), dtype=bool)
            first[1:] = docs[1:] != docs[:-1]
            docs, scores = docs[first], scores[first]
        if len(docs) > pool:
            top = np.argpartition(-scores, pool)[:pool]
            docs, scores = docs[top], scores[top]
        order = np.argsort(-scores, kind="stable")
        return docs[order], scores[order]

    def _retrieve_one(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Designations sharing words with `words` (their core), scored by weighted Jaccard overlap.

        Each query word counts once per designation, through the best of its matches (IDF x similarity).
        Common words (in more than `COMMON_SHARE` of designations) do not bring candidates in, unless the
        query has nothing else, but count for the candidates the other words bring.
        """
        query = list(dict.fromkeys(core_words(list(words))))
        if not query:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)
        idf, df, offsets = self.idf, self.df, self._post_offsets
        groups, query_weight = [], 0.0
        for word in query:
            # A known word weighs its own IDF, and no match of it weighs more (a rare completion is no better).
            own = float(idf[self.vocab[word]]) if word in self.vocab else None
            group = [(w, min(float(idf[w]), own or float(idf[w])) * s) for w, s in self.match_word(word)]
            groups.append(group)
            query_weight += own if own is not None else max((weight for _, weight in group), default=self.max_idf)
        # Two query words written as one in the release ("hazel nut" -> "hazelnut").
        for first, second in zip(query, query[1:]):
            joined = self.vocab.get(first + second)
            if joined is not None:
                groups.append([(joined, float(idf[joined]))])
        items = [item for group in groups for item in group]
        if not items:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)
        finders = [w for w, _ in items if df[w] <= self.common] or [min(items, key=lambda item: df[item[0]])[0]]
        unique = np.unique(np.concatenate([self._postings[offsets[w]:offsets[w + 1]] for w in set(finders)]))
        overlap = np.zeros(len(unique), dtype=np.float32)
        for group in groups:
            best = np.zeros(len(unique), dtype=np.float32)
            for w, weight in group:
                postings = self._postings[offsets[w]:offsets[w + 1]]  # sorted by designation
                at = np.minimum(np.searchsorted(postings, unique), len(postings) - 1)
                np.maximum(best, np.float32(weight) * (postings[at] == unique), out=best)
            overlap += best
        denominator = np.maximum(query_weight + self.doc_weight[unique] - overlap, overlap)
        return unique.astype(np.int32), overlap / np.maximum(denominator, 1e-6)


# --------------------------------------------------------------------------------------------------
# Brands (RxNorm)


class BrandIndex:
    """Brand names of one RxNorm release -> the words of their ingredients."""

    def __init__(self, release: ActiveRelease, ingredients: dict[str, tuple[tuple[str, ...], ...]]) -> None:
        self.release = release
        self.ingredients = ingredients
        self.longest = max((len(key.split()) for key in ingredients), default=0)
        self.seconds = 0.0

    @classmethod
    def build(cls, connection: Connection, release: ActiveRelease) -> BrandIndex:
        started = time.perf_counter()
        c, d, r = schema.concepts, schema.designations, schema.relationships
        kinds = {row.code: (row.kind, row.display) for row in connection.execute(
            select(c.c.code, c.c.kind, c.c.display).where(
                c.c.release_id == release.id, c.c.kind.in_(["BN", *RXNORM_INGREDIENT_TTYS, "SBD", "BPCK"])
            )
        )}
        brand_names: dict[str, set[str]] = {}
        for row in connection.execute(
            select(d.c.code, d.c.term)
            .select_from(d.join(c, (c.c.release_id == d.c.release_id) & (c.c.code == d.c.code)))
            .where(d.c.release_id == release.id, c.c.kind == "BN")
        ):
            brand_names.setdefault(row.code, set()).add(" ".join(key_words(row.term)))
        by_brand: dict[str, set[str]] = {}
        for row in connection.execute(
            select(r.c.source_code, r.c.type, r.c.target_code).where(
                r.c.release_id == release.id, r.c.type.in_(["tradename_of", "has_tradename"])
            )
        ):
            # BN tradename_of IN, and its inverse IN has_tradename BN
            brand, ingredient = (row.source_code, row.target_code) if row.type == "tradename_of" else (
                row.target_code, row.source_code)
            source, target = kinds.get(brand), kinds.get(ingredient)
            if source and target and source[0] == "BN" and target[0] in RXNORM_INGREDIENT_TTYS:
                by_brand.setdefault(brand, set()).add(target[1])
        ingredients: dict[str, set[tuple[str, ...]]] = {}
        linked: set[str] = set()
        for code, names in brand_names.items():
            for name in names:
                for display in by_brand.get(code, ()):
                    ingredients.setdefault(name, set()).add(tuple(core_words(key_words(display))))
                    linked.add(name)
        # A brand with no tradename_of link: the ingredient words of an SBD / BPCK named "... [Brand]".
        for kind, display in kinds.values():
            text = display.rstrip()
            if kind not in ("SBD", "BPCK") or not text.endswith("]") or "[" not in text:
                continue
            clinical, _, brand = text[:-1].rpartition("[")
            name = " ".join(key_words(brand))
            words = tuple(core_words(key_words(clinical)))
            if name and name not in linked and words and words != tuple(name.split()):
                ingredients.setdefault(name, set()).add(words)
        index = cls(release, {name: tuple(sorted(found)) for name, found in ingredients.items() if found})
        index.seconds = time.perf_counter() - started
        logger.log(logging.INFO if index.seconds >= 1 else logging.DEBUG,
                   "brand index for release %s: %d brand names, %.1f s", release.id, len(index.ingredients),
                   index.seconds)
        return index

    def expand(self, words: Sequence[str]) -> list[str] | None:
        """`words` with every brand name replaced by its ingredients' words; None when no brand is named."""
        if not self.ingredients:
            return None
        out: list[str] = []
        i, n, hit = 0, len(words), False
        while i < n:
            for size in range(min(self.longest, n - i), 0, -1):
                found = self.ingredients.get(" ".join(words[i:i + size]))
                if found is not None and (size > 1 or len(words[i]) > 2):
                    for ingredient in found:
                        out.extend(ingredient)
                    i += size
                    hit = True
                    break
            else:
                out.append(words[i])
                i += 1
        return list(dict.fromkeys(out)) if hit else None


# --------------------------------------------------------------------------------------------------
# The cache

_MAX_CACHED = 8
_cache: OrderedDict[tuple, ReleaseIndex | BrandIndex] = OrderedDict()
_building: dict[tuple, threading.Lock] = {}
_lock = threading.Lock()


def _cached(kind: str, connection: Connection, release: ActiveRelease, build) -> ReleaseIndex | BrandIndex:
    key = (kind, release)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
        building = _building.setdefault(key, threading.Lock())
    with building:
        with _lock:
            found = _cache.get(key)
        if found is None:
            found = build(connection, release)
            with _lock:
                # A release switch: the index of the release this one replaced is of no more use.
                for old in [k for k in _cache if k[0] == kind and k[1].store == release.store
                            and k[1].system == release.system and k[1] != release]:
                    del _cache[old]
                _cache[key] = found
                while len(_cache) > _MAX_CACHED:
                    _cache.popitem(last=False)
                _building.pop(key, None)
        return found


def release_index(connection: Connection, release: ActiveRelease) -> ReleaseIndex:
    """The index of `release`, built on first use and cached."""
    return _cached("designations", connection, release, ReleaseIndex.build)  # type: ignore[return-value]


def brand_index(connection: Connection, release: ActiveRelease) -> BrandIndex:
    """The brand index of an RxNorm `release`, built on first use and cached."""
    return _cached("brands", connection, release, BrandIndex.build)  # type: ignore[return-value]


def warm(connection: Connection) -> dict[str, float]:
    """Build the indexes of every active release now; seconds per system (0 for one already cached)."""
    seconds: dict[str, float] = {}
    for release in active_releases(connection):
        started = time.perf_counter()
        release_index(connection, release)
        if release.system == RXNORM:
            brand_index(connection, release)
        seconds[release.system] = round(time.perf_counter() - started, 3)
    return seconds


def cached() -> list[tuple[str, ActiveRelease]]:
    """What the cache holds: (index kind, release), least recently used first."""
    with _lock:
        return [(kind, release) for kind, release in _cache]


def clear_cache() -> None:
    """Drop every cached index."""
    with _lock:
        _cache.clear()

