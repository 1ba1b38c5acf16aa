"""Release-sized synthetic SNOMED CT RF2 and RxNorm RRF files, in the real layouts, for load benchmarks.

    python -m benchmarks.generate rf2 OUT [--scale 1.0] [--seed N]
    python -m benchmarks.generate rxnorm OUT [--scale 1.0] [--seed N]

The content is invented (terms are built from medical-ish word pieces), the form is not: file
names, folder layout, headers, separators, line ends, identifier formats (SCTIDs with partition
and Verhoeff check digit, UUID refset members, RXCUI/RXAUI/RUI numbers) and the shape of a real
International / full monthly release at scale 1.0 (row counts, inactive share, is-a DAG rooted at
138875005, RxNorm TTYs and RELAs, NDC attributes). The same scale and seed give byte-identical
files. Rows are written as they are made; only the ids later rows point to are kept in memory.

Each output folder also gets `generator-manifest.json`: what was written, row counts per file and
per kind (active concepts, preferred terms, ...), so benchmarks and tests need not re-read the files.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "RF2_DATE",
    "RF2_FILES",
    "RF2_HEADERS",
    "RRF_FILES",
    "RXNORM_RELEASE",
    "RRF_COLUMNS",
    "MANIFEST",
    "verhoeff_check_digit",
    "is_valid_sctid",
    "generate_rf2",
    "generate_rxnorm",
    "main",
]

DEFAULT_SEED = 20250901
MANIFEST = "generator-manifest.json"
RF2_DATE = "20250901"

#: RF2 files, by kind, relative to the release folder (as in SnomedCT_InternationalRF2_PRODUCTION_*).
RF2_FILES = {
    "concept": f"Snapshot/Terminology/sct2_Concept_Snapshot_INT_{RF2_DATE}.txt",
    "description": f"Snapshot/Terminology/sct2_Description_Snapshot-en_INT_{RF2_DATE}.txt",
    "relationship": f"Snapshot/Terminology/sct2_Relationship_Snapshot_INT_{RF2_DATE}.txt",
    "language": f"Snapshot/Refset/Language/der2_cRefset_LanguageSnapshot-en_INT_{RF2_DATE}.txt",
    "association": f"Snapshot/Refset/Content/der2_cRefset_AssociationSnapshot_INT_{RF2_DATE}.txt",
}
RF2_HEADERS = {
    "concept": ("id", "effectiveTime", "active", "moduleId", "definitionStatusId"),
    "description": (
        "id", "effectiveTime", "active", "moduleId", "conceptId", "languageCode", "typeId", "term",
        "caseSignificanceId",
    ),
    "relationship": (
        "id", "effectiveTime", "active", "moduleId", "sourceId", "destinationId", "relationshipGroup",
        "typeId", "characteristicTypeId", "modifierId",
    ),
    "language": ("id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId", "acceptabilityId"),
    "association": (
        "id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId", "targetComponentId",
    ),
}

#: RxNorm RRF files (pipe-separated, a trailing `|`, no header, LF), relative to the release folder.
RRF_FILES = {
    "RXNCONSO": "rrf/RXNCONSO.RRF",
    "RXNREL": "rrf/RXNREL.RRF",
    "RXNSAT": "rrf/RXNSAT.RRF",
    "RXNCUI": "rrf/RXNCUI.RRF",
    "RXNSTY": "rrf/RXNSTY.RRF",
    "RXNSAB": "rrf/RXNSAB.RRF",
}
RRF_COLUMNS = {
    "RXNCONSO": (
        "RXCUI", "LAT", "TS", "LUI", "STT", "SUI", "ISPREF", "RXAUI", "SAUI", "SCUI", "SDUI", "SAB", "TTY",
        "CODE", "STR", "SRL", "SUPPRESS", "CVF",
    ),
    "RXNREL": (
        "RXCUI1", "RXAUI1", "STYPE1", "REL", "RXCUI2", "RXAUI2", "STYPE2", "RELA", "RUI", "SRUI", "SAB", "SL",
        "RG", "DIR", "SUPPRESS", "CVF",
    ),
    "RXNSAT": (
        "RXCUI", "LUI", "SUI", "RXAUI", "STYPE", "CODE", "ATUI", "SATUI", "ATN", "SAB", "ATV", "SUPPRESS", "CVF",
    ),
    "RXNCUI": ("cui1", "ver_start", "ver_end", "cardinality", "cui2"),
    "RXNSTY": ("RXCUI", "TUI", "STN", "STY", "ATUI", "CVF"),
    "RXNSAB": (
        "VCUI", "RCUI", "VSAB", "RSAB", "SON", "SF", "SVER", "VSTART", "VEND", "IMETA", "RMETA", "SLC", "SCC",
        "SRL", "TFR", "CFR", "CXTY", "TTYL", "ATNL", "LAT", "CENC", "CURVER", "SABIN", "SSN", "SCIT",
    ),
}


# --------------------------------------------------------------------------------------------
# Identifiers

_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def verhoeff_check_digit(payload: str) -> str:
    """The Verhoeff check digit to append to `payload` (a string of digits)."""
    c = 0
    for position, digit in enumerate(reversed(payload), 1):
        c = _D[c][_P[position % 8][int(digit)]]
    return str(_INV[c])


def is_valid_sctid(sctid: str, partition: str | None = None) -> bool:
    """True for a well-formed SCTID: 6-18 digits, no leading zero, good check digit (and partition, if given)."""
    if not (6 <= len(sctid) <= 18 and sctid.isdigit() and sctid[0] != "0"):
        return False
    if partition is not None and sctid[-3:-1] != partition:
        return False
    return verhoeff_check_digit(sctid[:-1]) == sctid[-1]


def _digit_map(digits: str, first_position: int) -> tuple[int, ...]:
    """Verhoeff state after `digits` (read right to left from `first_position`), for each state before."""
    states = []
    for start in range(10):
        c = start
        for position, digit in enumerate(reversed(digits), first_position):
            c = _D[c][_P[position % 8][int(digit)]]
        states.append(c)
    return tuple(states)


_LOW_BLOCKS = tuple(_digit_map(f"{low:03d}", 3) for low in range(1000))


class _SctidSequence:
    """Increasing short-format SCTIDs of one partition, with random gaps as in a real release.

    The check digit is computed from precomputed Verhoeff state maps (partition, the low three
    digits, the rest), about five times faster than digit by digit.
    """

    def __init__(self, partition: str, start: int, mean_gap: float, rng: random.Random, taken: set[str]) -> None:
        assert start >= 1000
        self.partition = partition
        self._c0 = _digit_map(partition, 1)[0]
        self._item = start
        self._span = max(2.0 * mean_gap - 1.0, 1.0)
        self._random = rng.random
        self._high = -1
        self._high_map: tuple[int, ...] = ()
        self._taken = {int(sctid[:-3]) for sctid in taken if sctid[-3:-1] == partition}

    def next(self) -> str:
        self._item += 1 + int(self._random() * self._span)
        while self._item in self._taken:
            self._item += 1
        high, low = divmod(self._item, 1000)
        if high != self._high:
            self._high = high
            self._high_map = _digit_map(str(high), 6)
        return f"{self._item}{self.partition}{_INV[self._high_map[_LOW_BLOCKS[low][self._c0]]]}"


def _uuid_maker(rng: random.Random) -> Callable[[], str]:
    """Version-4-shaped UUIDs from the seeded generator (uuid.uuid4 is neither seeded nor fast)."""
    bits = rng.getrandbits

    def make() -> str:
        h = f"{bits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    return make


class _Out:
    """A text file written in large chunks; callers append finished lines to `rows` and call `spill()`."""

    __slots__ = ("path", "handle", "rows", "count")

    def __init__(self, path: Path, first_line: str | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.handle = open(path, "w", encoding="utf-8", newline="")
        self.rows: list[str] = []
        self.count = 0
        if first_line is not None:
            self.handle.write(first_line)

    def spill(self, at: int = 8192) -> None:
        if len(self.rows) >= at:
            self.count += len(self.rows)
            self.handle.write("".join(self.rows))
            self.rows.clear()

    def close(self) -> None:
        self.spill(0)
        self.handle.close()


# --------------------------------------------------------------------------------------------
# Word pieces: enough variety that terms, lengths and their spread look like a real release.

def _words(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split("|") if word.strip())


_SITES = _words(
    "femur|tibia|fibula|humerus|radius|ulna|knee|hip|shoulder|elbow|wrist|ankle|foot|hand|kidney|liver|"
    "lung|heart|brain|spinal cord|stomach|colon|rectum|urinary bladder|prostate|uterus|ovary|breast|"
    "thyroid gland|skin|eye|ear|nose|tongue|pancreas|gallbladder|spleen|esophagus|duodenum|ileum|jejunum|"
    "aorta|coronary artery|femoral vein|lymph node|bone marrow|cornea|retina|mitral valve|aortic valve|"
    "trachea|main bronchus|larynx|pharynx|cervix uteri|testis|scrotum|lumbar vertebra|cervical spine|"
    "thoracic spine|pelvis|sacrum|skull|mandible|maxilla|tooth|gingiva|fingernail|scalp|eyelid|"
    "conjunctiva|lacrimal gland|adrenal gland|pituitary gland|ureter|urethra|appendix|peritoneum|pleura|"
    "pericardium|diaphragm|index finger|thumb|great toe|forearm|thigh|calf|lower leg|upper arm|abdomen|"
    "chest wall|neck|face|lip|palate|tonsil|salivary gland|sigmoid colon|cecum|bile duct|hepatic duct|"
    "renal pelvis|carotid artery|jugular vein|popliteal artery|achilles tendon|rotator cuff|meniscus of knee|"
    "anterior cruciate ligament|optic nerve|facial nerve|sciatic nerve|median nerve|cerebellum|"
    "frontal lobe|temporal lobe|hippocampus|basal ganglia|left ventricle|right atrium|tricuspid valve"
)
_SIDES = ("", "", "", "", "left ", "right ", "bilateral ", "entire ", "structure of ")
_ORGAN_ADJ = _words(
    "renal|hepatic|cardiac|pulmonary|cerebral|gastric|intestinal|vascular|cutaneous|ocular|nasal|oral|dental|"
    "spinal|thyroid|adrenal|pancreatic|biliary|urinary|genital|mammary|lymphatic|skeletal|muscular|"
    "articular|bronchial|tracheal|laryngeal|esophageal|colonic|rectal|anal|vesical|prostatic|uterine|"
    "ovarian|testicular|retinal|corneal|optic|auditory|vestibular|coronary|myocardial|pleural|peritoneal"
)
_LESIONS = _words(
    "failure|insufficiency|stenosis|obstruction|infection|inflammation|abscess|ulcer|hemorrhage|"
    "infarction|thrombosis|embolism|aneurysm|dysplasia|neoplasm|carcinoma|adenoma|sarcoma|lymphoma|cyst|"
    "calculus|fistula|hernia|prolapse|atrophy|hypertrophy|hyperplasia|fibrosis|sclerosis|necrosis|edema|"
    "injury|laceration|contusion|fracture|dislocation|sprain|deformity|anomaly|agenesis|degeneration|"
    "dysfunction|disorder|disease|syndrome|pain|lesion|mass|tear|rupture|perforation|stricture"
)
_ROOTS = _words(
    "cardi|gastr|hepat|nephr|neur|oste|arthr|derm|enter|col|encephal|my|pneumon|bronch|rhin|ot|ophthalm|"
    "cyst|angi|phleb|aden|chondr|cholecyst|pancreat|splen|thyr|lymphaden|mast|metr|oophor|orchi|prostat|"
    "ureter|vascul|spondyl|tendin|sinus|laryng|pharyng|tonsill|esophag|duoden|ile|proct|vagin|cervic|"
    "blephar|kerat|retin|myocard|pericard|endocard|glomerulonephr|pyelonephr|hidraden|onych|gingiv"
)
_DISEASE_SUFFIXES = _words("itis|osis|opathy|algia|oma|ectasia|omegaly|omalacia|orrhea|oplegia|osclerosis")
_PROCEDURE_SUFFIXES = _words(
    "ectomy|otomy|ostomy|oplasty|oscopy|ography|opexy|orrhaphy|ocentesis|otripsy|olysis"
)
_MODIFIERS = _words(
    "acute|chronic|recurrent|congenital|acquired|primary|secondary|benign|malignant|idiopathic|traumatic|"
    "infective|allergic|drug-induced|postoperative|neonatal|juvenile|senile|hereditary|familial|subacute|"
    "severe|mild|moderate|obstructive|nonobstructive|hemorrhagic|ischemic|diabetic|hypertensive|"
    "alcoholic|toxic|viral|bacterial|fungal|parasitic|atypical|localized|generalized|persistent|"
    "intermittent|complete|partial|closed|open|displaced|nondisplaced|pathological|degenerative"
)
_TAILS = _words(
    "with complication|without complication|in pregnancy|in remission|with hemorrhage|with perforation|"
    "with obstruction|of newborn|in childhood|following procedure|due to trauma|with gangrene|"
    "co-occurrent with diabetes mellitus|with acute exacerbation|stage 2|stage 3|grade 1|grade 2"
)
_EPONYMS = _words(
    "Ménière|Sjögren|Crohn|Hodgkin|Parkinson|Alzheimer|Addison|Cushing|Graves|Hashimoto|Raynaud|Kawasaki|"
    "Behçet|Guillain-Barré|Waldenström|Löfgren|Reiter|Wilson|Marfan|Down|Turner|Tourette|Bell|Barrett|"
    "Paget|Peyronie|Dupuytren|Osgood-Schlatter|Legg-Calvé-Perthes|Kaposi|Wernicke|Korsakoff|"
    "Stevens-Johnson|Ehlers-Danlos|Charcot-Marie-Tooth|Niemann-Pick|Tay-Sachs|Hirschsprung|Huntington|"
    "Creutzfeldt-Jakob|Still|Kienböck|Sézary|Hürthle cell|Schönlein-Henoch"
)
_EPONYM_NOUNS = ("disease", "syndrome", "disease", "palsy", "sarcoma", "lymphoma", "disorder", "tumor")
_FINDING_NOUNS = _words(
    "pain|swelling|tenderness|mass|stiffness|weakness|numbness|tingling|discharge|bleeding|redness|itching|"
    "rash|ulceration|deformity|crepitus|effusion|spasm|tremor|cramp|bruising|scar|nodule|discoloration"
)
_FINDING_FORMS = (
    "{N} of {S}", "{S} {N}", "On examination - {N} of {S}", "Complaining of {N} in {S}", "{N} in {S}",
    "Finding of {S}", "{S} normal", "{S} abnormal", "Observation of {N}", "History of {N} of {S}",
)
_PROCEDURE_NOUNS = _words(
    "excision|biopsy|repair|reconstruction|incision and drainage|removal of foreign body from|"
    "injection into|aspiration of|ultrasonography of|magnetic resonance imaging of|computed tomography of|"
    "radiography of|fixation of|revision of|arthroscopy of|endoscopy of|examination of|dressing of|"
    "suture of|transplantation of|amputation of|debridement of|catheterization of|irrigation of|"
    "physiotherapy to|immobilization of|manipulation of|replacement of|resection of|ligation of"
)
_METHODS = _words(
    "Laparoscopic|Open|Percutaneous|Endoscopic|Robot-assisted|Image guided|Emergency|Elective|Diagnostic|"
    "Therapeutic|Partial|Total|Radical|Minimally invasive|Staged|Revision"
)
_SPECIALTIES = _words(
    "cardiology|dermatology|allergy|gastroenterology|neurology|oncology|ophthalmology|orthopedics|"
    "pediatrics|physiotherapy|psychiatry|rheumatology|urology|dietetics|immunology|respiratory medicine"
)
_ALLERGENS = _words(
    "peanut|tree nut|cashew nut|walnut|hazelnut|almond|egg protein|cow's milk protein|soy protein|wheat|"
    "shellfish|crustacean|fish|sesame seed|latex|bee venom|wasp venom|house dust mite|cat dander|"
    "dog dander|grass pollen|birch pollen|ragweed pollen|mold spores|nickel|chlorhexidine|"
    "iodinated contrast media|kiwi fruit|strawberry|celery|mustard|lupin|gelatin|adhesive plaster"
)
_DRUG_HEADS = _words(
    "a|ami|amo|ato|be|ca|ce|cla|clo|da|de|di|do|e|eso|fa|fe|flu|ga|glu|ha|hy|i|ke|la|le|li|lo|ma|me|mi|mo|"
    "na|ne|ni|no|o|pa|pe|pi|pra|pro|que|ra|re|ri|ro|sa|se|si|so|ta|te|ti|to|tra|va|ve|vi|xa|za|ze|zi|zo|"
    "bro|cri|dex|fos|lev|met|nor|oxy|pan|ter|tri|val"
)
_DRUG_MIDDLES = _words(
    "bu|ca|da|fe|ga|li|lo|ma|mi|na|no|pi|pra|ra|ri|sar|ta|te|to|va|xi|zo|cil|dro|fen|mox|pren|quin|tor|vas|"
    "lan|cor|lor|ben|ful|gab|lin|mer|nal|per|rox|sil|tal|ver|xan|zep"
)
_DRUG_STEMS = _words(
    "cillin|mycin|floxacin|cycline|sartan|pril|olol|dipine|statin|prazole|tidine|azole|conazole|vir|mab|"
    "tinib|parin|semide|thiazide|zepam|zolam|triptan|setron|profen|oxacin|barbital|caine|done|phylline|"
    "lukast|gliptin|gliflozin|glitazone|dronate|tide|sone|olone|asone|terol|tropium|ine|ide|ate|oxin|mide|"
    "pam|pine|ridone|tadine|xetine|afil|lamide|lutamide|nacin|trexate|platin|rubicin|taxel|vastatin|arin|"
    "mustine|nidazole|adine|ximab|zumab|ciclib|parib|rafenib|tegravir|previr|buvir|dronic acid"
)
_SALTS = _words(
    "hydrochloride|sodium|sulfate|maleate|potassium|mesylate|citrate|acetate|besylate|tartrate|calcium|"
    "hyclate|monohydrate|dihydrate|phosphate|fumarate|succinate|bromide|nitrate|lactate|propionate|"
    "dipropionate|valerate|hydrobromide|magnesium|trihydrate|disodium|hemifumarate"
)
_SCT_FORMS = _words(
    "oral tablet|oral capsule|oral solution|oral suspension|solution for injection|cutaneous cream|"
    "cutaneous ointment|eye drops|nasal spray|powder for inhalation|prolonged-release oral tablet|"
    "transdermal patch|rectal suppository|vaginal cream|powder for solution for injection|"
    "gastro-resistant oral tablet|oral drops|chewable tablet|orodispersible tablet|ear drops|cutaneous gel|"
    "cutaneous lotion|pressurized inhalation suspension|oral powder|solution for infusion"
)
_SCT_UNITS = ("milligram", "microgram", "gram", "milligram/milliliter", "microgram/milliliter", "unit/milliliter")
_STRENGTHS = ("0.1", "0.25", "0.5", "1", "2", "2.5", "5", "10", "12.5", "20", "25", "40", "50", "75", "100",
              "125", "150", "200", "250", "300", "400", "500", "600", "750", "800", "1000")
_GENUS = _words(
    "Staphylo|Strepto|Entero|Bacter|Clostrid|Pseudo|Myco|Lacto|Bifido|Klebs|Salmon|Shig|Campylo|Helico|"
    "Listeri|Neisser|Haemophil|Bordetell|Legionell|Candid|Aspergill|Cryptococc|Plasmod|Toxoplasm|Giardi|"
    "Trichophyt|Microsporum|Rhizop|Mucor|Acinetobact|Serrati|Proteus|Morganell|Citrobact|Yersini"
)
_GENUS_ENDS = ("coccus", "bacterium", "monas", "bacter", "ella", "ia", "ium", "us", "a", "ides", "myces")
_SPECIES = _words(
    "aureus|pyogenes|faecalis|coli|pneumoniae|aeruginosa|tuberculosis|difficile|jejuni|pylori|"
    "monocytogenes|meningitidis|influenzae|pertussis|albicans|fumigatus|neoformans|falciparum|gondii|"
    "lamblia|rubrum|canis|oryzae|baumannii|marcescens|mirabilis|enterocolitica|epidermidis|agalactiae|"
    "typhimurium|sonnei|vulgaris|cloacae|oxytoca|glabrata|krusei|vivax|malariae|ovale"
)
_QUALIFIERS = _words(
    "Severe|Mild|Moderate|Left|Right|Bilateral|Acute|Chronic|Recurrent|Increased|Decreased|Normal|Abnormal|"
    "Present|Absent|Suspected|Confirmed|Known|Unknown|Early|Late|Proximal|Distal|Anterior|Posterior|"
    "Medial|Lateral|Superior|Inferior|Superficial|Deep|Primary|Secondary|Partial|Complete|Unilateral|"
    "Intermittent|Continuous|Progressive|Stable|Resolved|Active|Inactive|High|Low|Borderline"
)
_OBJECTS = _words(
    "catheter|syringe|needle|stent|cannula|implant|prosthesis|splint|bandage|dressing|pump|monitor|"
    "ventilator|inhaler|nebulizer|glove|mask|tube|drain|suture|staple|plate|screw|pacemaker|electrode|"
    "pessary|hearing aid|wheelchair|crutch|orthosis|lens|valve|graft|sheath|guidewire|clip|mesh"
)
_OBJECT_ADJ = _words(
    "urinary|intravenous|central venous|arterial|peripheral|nasogastric|endotracheal|tracheostomy|"
    "silicone|latex-free|sterile|disposable|single-use|implantable|external|adhesive|absorbable|"
    "drug-eluting|hydrocolloid|antimicrobial|orthopedic|cardiac|dental|ophthalmic|surgical"
)
_OCCUPATIONS = _words(
    "nurse|physician|pharmacist|teacher|farmer|electrician|carpenter|driver|cook|cleaner|engineer|"
    "accountant|miner|fisherman|soldier|police officer|firefighter|hairdresser|baker|welder|painter|"
    "laboratory technician|dental hygienist|paramedic|social worker|radiographer|midwife|porter"
)
_PLACES = _words(
    "intensive care unit|operating theater|emergency department|outpatient clinic|general practice|"
    "nursing home|hospice|pharmacy|laboratory|school|workplace|farm|home|hospital ward|day care center|"
    "rehabilitation unit|dialysis unit|prison|mine|construction site|swimming pool"
)
_COUNTRIES = _words(
    "Andorra|Bhutan|Cabo Verde|Côte d'Ivoire|Djibouti|Eswatini|Fiji|Guinea-Bissau|Iceland|Kiribati|Lesotho|"
    "Malta|Nauru|Oman|Palau|Qatar|Réunion|São Tomé and Príncipe|Tuvalu|Uruguay|Vanuatu|Yemen|Zambia"
)
_SCALES = _words(
    "Glasgow|Braden|Barthel|Apgar|Waterlow|Oxford|Mini-Mental|Epworth|Beck|Hamilton|Wells|CURB-65|"
    "Child-Pugh|Gleason|Breslow|Clark|Duke|Ann Arbor|FIGO|Karnofsky|Rockall|Ranson|Bishop|Tanner"
)
_SPECIMENS = _words(
    "blood|serum|plasma|urine|sputum|cerebrospinal fluid|synovial fluid|pleural fluid|ascitic fluid|"
    "stool|swab|tissue|biopsy|aspirate|wound exudate|bronchoalveolar lavage fluid|bone marrow|saliva"
)
_MEASURES = _words(
    "level|concentration|measurement|count|ratio|volume|pressure|rate|index|clearance|activity|titer"
)
_VITALS = _words(
    "Body temperature|Heart rate|Respiratory rate|Blood pressure|Body weight|Body height|Body mass index|"
    "Oxygen saturation|Peak expiratory flow|Head circumference|Waist circumference|Pain score"
)


def _pick(r: Callable[[], float], seq: tuple[str, ...]) -> str:
    return seq[int(r() * len(seq))]


def _drug_stem(r: Callable[[], float]) -> str:
    """An invented drug-like name: amo + xi + cillin."""
    if r() < 0.55:
        return _pick(r, _DRUG_HEADS) + _pick(r, _DRUG_MIDDLES) + _pick(r, _DRUG_STEMS)
    return _pick(r, _DRUG_HEADS) + _pick(r, _DRUG_MIDDLES) + _pick(r, _DRUG_MIDDLES) + _pick(r, _DRUG_STEMS)


def _site(r: Callable[[], float]) -> str:
    return _pick(r, _SIDES) + _pick(r, _SITES)


def _substance_name(r: Callable[[], float]) -> str:
    roll = r()
    if roll < 0.12:
        return _pick(r, _ALLERGENS)
    if roll < 0.35:
        return f"{_drug_stem(r)} {_pick(r, _SALTS)}"
    return _drug_stem(r)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# Base terms (the FSN without its semantic tag, and the preferred term), one builder per tag.

def _disorder(r):
    roll = r()
    if roll < 0.22:
        term = f"{_pick(r, _MODIFIERS)} {_pick(r, _ORGAN_ADJ)} {_pick(r, _LESIONS)}"
    elif roll < 0.45:
        term = f"{_pick(r, _LESIONS)} of {_site(r)}"
        if r() < 0.5:
            term = f"{_pick(r, _MODIFIERS)} {term}"
    elif roll < 0.62:
        term = f"{_pick(r, _ROOTS)}{_pick(r, _DISEASE_SUFFIXES)}"
        if r() < 0.6:
            term = f"{_pick(r, _MODIFIERS)} {term}"
        if r() < 0.4:
            term = f"{term} of {_site(r)}"
    elif roll < 0.72:
        return f"{_pick(r, _EPONYMS)} {_pick(r, _EPONYM_NOUNS)}" + (f" {_pick(r, _TAILS)}" if r() < 0.3 else "")
    elif roll < 0.80:
        term = f"allergy to {_substance_name(r)}"
    elif roll < 0.86:
        term = f"{_pick(r, ('allergic reaction', 'anaphylaxis', 'adverse reaction', 'intolerance'))} caused by {_substance_name(r)}"
    else:
        term = f"{_pick(r, _MODIFIERS)} {_pick(r, _LESIONS)} of {_site(r)} {_pick(r, _TAILS)}"
    if r() < 0.12:
        term = f"{term} {_pick(r, _TAILS)}"
    return _cap(term)


def _finding(r):
    form = _pick(r, _FINDING_FORMS)
    return _cap(form.replace("{N}", _pick(r, _FINDING_NOUNS)).replace("{S}", _site(r)))


def _procedure(r):
    roll = r()
    if roll < 0.35:
        term = f"{_pick(r, _PROCEDURE_NOUNS)} {_site(r)}"
        if r() < 0.4:
            return f"{_pick(r, _METHODS)} {term}"
        return _cap(term)
    if roll < 0.6:
        term = f"{_pick(r, _ROOTS)}{_pick(r, _PROCEDURE_SUFFIXES)}"
        return _cap(term) if r() < 0.5 else f"{_pick(r, _METHODS)} {term}"
    if roll < 0.72:
        return f"Referral to {_pick(r, _SPECIALTIES)} service"
    if roll < 0.84:
        return f"Administration of {_substance_name(r)}"
    if roll < 0.92:
        return f"Measurement of {_substance_name(r)} in {_pick(r, _SPECIMENS)}"
    return f"{_cap(_pick(r, _SPECIALTIES))} assessment of {_site(r)}"


def _body_structure(r):
    roll = r()
    if roll < 0.45:
        return f"Structure of {_pick(r, _SIDES).replace('structure of ', '')}{_pick(r, _SITES)}"
    if roll < 0.7:
        return f"Entire {_pick(r, _SITES)}"
    if roll < 0.85:
        return _cap(f"{_pick(r, _ORGAN_ADJ)} {_pick(r, ('tissue', 'surface', 'region', 'wall', 'segment'))} of {_pick(r, _SITES)}")
    return _cap(f"{_pick(r, _QUALIFIERS).lower()} part of {_pick(r, _SITES)}")


def _morphology(r):
    term = _pick(r, _LESIONS)
    if r() < 0.6:
        term = f"{_pick(r, _MODIFIERS)} {term}"
    if r() < 0.2:
        term = f"{term}, {_pick(r, ('benign', 'malignant', 'uncertain whether benign or malignant', 'metastatic'))}"
    return _cap(term)


def _substance(r):
    roll = r()
    if roll < 0.15:
        return _cap(_pick(r, _ALLERGENS)) + (" allergen" if r() < 0.5 else "")
    if roll < 0.2:
        return f"Venom of {_pick(r, ('honey bee', 'wasp', 'hornet', 'fire ant', 'yellow jacket'))}"
    return _cap(_substance_name(r))


def _clinical_drug(r):
    return (f"Product containing precisely {_drug_stem(r)} {_pick(r, _STRENGTHS)} {_pick(r, _SCT_UNITS)}/1 each "
            f"{_pick(r, ('conventional release', 'prolonged-release', 'gastro-resistant'))} {_pick(r, _SCT_FORMS)}")


def _medicinal_product(r):
    return f"Product containing {_drug_stem(r)}" + (f" and {_drug_stem(r)}" if r() < 0.15 else "")


def _medicinal_product_form(r):
    return f"Product containing only {_drug_stem(r)} in {_pick(r, ('oral', 'parenteral', 'cutaneous', 'ocular', 'nasal', 'rectal'))} dose form"


def _product(r):
    return f"{_cap(_drug_stem(r))}-containing product"


def _organism(r):
    roll = r()
    genus = _pick(r, _GENUS) + _pick(r, _GENUS_ENDS)
    if roll < 0.7:
        return f"{genus} {_pick(r, _SPECIES)}"
    if roll < 0.85:
        return f"Genus {genus}"
    return f"{genus} {_pick(r, _SPECIES)} subspecies {_pick(r, _SPECIES)}"


def _qualifier(r):
    roll = r()
    if roll < 0.4:
        return _pick(r, _QUALIFIERS)
    if roll < 0.7:
        return f"{_pick(r, _QUALIFIERS)} {_pick(r, _QUALIFIERS).lower()}"
    return f"{_pick(r, _STRENGTHS)} {_pick(r, _SCT_UNITS)}"


def _dose_form(r):
    return _cap(f"{_pick(r, ('conventional release', 'prolonged-release', 'modified-release', 'sterile'))} {_pick(r, _SCT_FORMS)}")


def _observable(r):
    roll = r()
    if roll < 0.6:
        return f"{_cap(_substance_name(r))} {_pick(r, _MEASURES)} in {_pick(r, _SPECIMENS)}"
    if roll < 0.8:
        return f"{_pick(r, _VITALS)} {_pick(r, ('at rest', 'standing', 'sitting', 'during exercise', 'percentile'))}"
    return _cap(f"{_pick(r, _ORGAN_ADJ)} function {_pick(r, _MEASURES)}")


def _situation(r):
    roll = r()
    if roll < 0.3:
        return f"History of {_disorder(r)[0].lower()}{_disorder(r)[1:]}"
    if roll < 0.5:
        return f"Family history of {_pick(r, _LESIONS)} of {_pick(r, _SITES)}"
    if roll < 0.65:
        return f"No known {_pick(r, _ALLERGENS)} allergy"
    if roll < 0.8:
        return f"Allergy to {_substance_name(r)} suspected"
    return f"{_cap(_pick(r, _PROCEDURE_NOUNS))} {_pick(r, _SITES)} not done"


def _event(r):
    return _cap(f"{_pick(r, ('accidental', 'intentional', 'occupational', 'recreational'))} "
                f"{_pick(r, ('fall from', 'exposure to', 'contact with', 'ingestion of', 'bite of'))} "
                f"{_pick(r, _PLACES + _ALLERGENS)}")


def _physical_object(r):
    return _cap(f"{_pick(r, _OBJECT_ADJ)} {_pick(r, _OBJECTS)}" + (f", {_pick(r, ('adult', 'pediatric', 'size 8', 'size 12', 'single lumen', 'double lumen'))}" if r() < 0.3 else ""))


def _specimen(r):
    return _cap(f"{_pick(r, _SPECIMENS)} specimen" + (f" from {_pick(r, _SITES)}" if r() < 0.6 else ""))


def _social(r):
    return _cap(_pick(r, _OCCUPATIONS)) + (f" {_pick(r, ('assistant', 'manager', 'trainee', 'supervisor'))}" if r() < 0.3 else "")


def _environment(r):
    return _cap(_pick(r, _PLACES)) if r() < 0.5 else _pick(r, _COUNTRIES)


def _scale(r):
    return f"{_pick(r, _SCALES)} {_pick(r, ('score', 'scale', 'stage', 'classification', 'grade'))}"


def _record(r):
    return f"{_cap(_pick(r, _SPECIALTIES))} {_pick(r, ('report', 'letter', 'record', 'summary', 'form'))}"


def _force(r):
    return _cap(f"{_pick(r, ('electric', 'mechanical', 'thermal', 'ionizing', 'magnetic'))} {_pick(r, ('force', 'current', 'radiation', 'field', 'pressure'))}")


def _namespace(r):
    return f"Extension Namespace {{{1000000 + int(r() * 9000000)}}}"


# --------------------------------------------------------------------------------------------
# SNOMED CT RF2

CORE_MODULE = "900000000000207008"
MODEL_MODULE = "900000000000012004"
ROOT = "138875005"
IS_A = "116680003"
FSN, SYNONYM = "900000000000003001", "900000000000013009"
US_ENGLISH, GB_ENGLISH = "900000000000509007", "900000000000508004"
PREFERRED, ACCEPTABLE = "900000000000548007", "900000000000549004"
PRIMITIVE, DEFINED = "900000000000074008", "900000000000073002"
INFERRED, EXISTENTIAL = "900000000000011006", "900000000000451002"
CASE_INSENSITIVE, CASE_SENSITIVE, INITIAL_INSENSITIVE = "900000000000448009", "900000000000017005", "900000000000020002"
SAME_AS, REPLACED_BY, POSSIBLY_EQUIVALENT_TO, WAS_A, POSSIBLY_REPLACED_BY = (
    "900000000000527005", "900000000000526001", "900000000000523009", "900000000000528000", "1186921001",
)

#: Real concepts every release has: (SCTID, term, semantic tag, parent). Metadata the files refer to.
_FIXED_CONCEPTS = (
    (ROOT, "SNOMED CT Concept", "SNOMED RT+CTV3", None),
    ("404684003", "Clinical finding", "finding", ROOT),
    ("71388002", "Procedure", "procedure", ROOT),
    ("123037004", "Body structure", "body structure", ROOT),
    ("105590001", "Substance", "substance", ROOT),
    ("373873005", "Pharmaceutical / biologic product", "product", ROOT),
    ("410607006", "Organism", "organism", ROOT),
    ("362981000", "Qualifier value", "qualifier value", ROOT),
    ("363787002", "Observable entity", "observable entity", ROOT),
    ("243796009", "Situation with explicit context", "situation", ROOT),
    ("272379006", "Event", "event", ROOT),
    ("260787004", "Physical object", "physical object", ROOT),
    ("123038009", "Specimen", "specimen", ROOT),
    ("48176007", "Social context", "social concept", ROOT),
    ("308916002", "Environment or geographical location", "environment / location", ROOT),
    ("419891008", "Record artifact", "record artifact", ROOT),
    ("254291000", "Staging and scales", "staging scale", ROOT),
    ("78621006", "Physical force", "physical force", ROOT),
    ("370115009", "Special concept", "special concept", ROOT),
    ("900000000000441003", "SNOMED CT Model Component", "metadata", ROOT),
    ("900000000000454005", "Foundation metadata concept", "foundation metadata concept", "900000000000441003"),
    ("106237007", "Linkage concept", "linkage concept", "900000000000441003"),
    ("410662002", "Concept model attribute", "attribute", "106237007"),
    (IS_A, "Is a", "attribute", "410662002"),
    ("363698007", "Finding site", "attribute", "410662002"),
    ("116676008", "Associated morphology", "attribute", "410662002"),
    ("246075003", "Causative agent", "attribute", "410662002"),
    ("370135005", "Pathological process", "attribute", "410662002"),
    ("260686004", "Method", "attribute", "410662002"),
    ("405813007", "Procedure site - Direct", "attribute", "410662002"),
    ("363700003", "Direct morphology", "attribute", "410662002"),
    ("424226004", "Using device", "attribute", "410662002"),
    ("127489000", "Has active ingredient", "attribute", "410662002"),
    ("411116001", "Has manufactured dose form", "attribute", "410662002"),
    ("272741003", "Laterality", "attribute", "410662002"),
    ("726542003", "Has disposition", "attribute", "410662002"),
    ("738774007", "Is modification of", "attribute", "410662002"),
    ("246093002", "Component", "attribute", "410662002"),
    ("704319004", "Inheres in", "attribute", "410662002"),
    ("246090004", "Associated finding", "attribute", "410662002"),
    ("408729009", "Finding context", "attribute", "410662002"),
    ("408731000", "Temporal context", "attribute", "410662002"),
    ("408732007", "Subject relationship context", "attribute", "410662002"),
    ("900000000000446008", "Description type", "foundation metadata concept", "900000000000454005"),
    (FSN, "Fully specified name", "core metadata concept", "900000000000446008"),
    (SYNONYM, "Synonym", "core metadata concept", "900000000000446008"),
    ("900000000000447004", "Case significance", "core metadata concept", "900000000000454005"),
    (CASE_INSENSITIVE, "Entire term case insensitive", "core metadata concept", "900000000000447004"),
    (CASE_SENSITIVE, "Entire term case sensitive", "core metadata concept", "900000000000447004"),
    (INITIAL_INSENSITIVE, "Only initial character case insensitive", "core metadata concept", "900000000000447004"),
    ("900000000000444006", "Definition status", "core metadata concept", "900000000000454005"),
    (PRIMITIVE, "Primitive", "core metadata concept", "900000000000444006"),
    (DEFINED, "Defined", "core metadata concept", "900000000000444006"),
    ("900000000000443000", "Module", "core metadata concept", "900000000000454005"),
    (CORE_MODULE, "SNOMED CT core module", "core metadata concept", "900000000000443000"),
    (MODEL_MODULE, "SNOMED CT model component module", "core metadata concept", "900000000000443000"),
    ("900000000000455006", "Reference set", "foundation metadata concept", "900000000000454005"),
    ("900000000000506000", "Language type reference set", "foundation metadata concept", "900000000000455006"),
    (US_ENGLISH, "United States of America English language reference set", "foundation metadata concept", "900000000000506000"),
    (GB_ENGLISH, "Great Britain English language reference set", "foundation metadata concept", "900000000000506000"),
    ("900000000000521006", "Association type reference set", "foundation metadata concept", "900000000000455006"),
    (SAME_AS, "SAME AS association reference set", "foundation metadata concept", "900000000000521006"),
    (REPLACED_BY, "REPLACED BY association reference set", "foundation metadata concept", "900000000000521006"),
    (POSSIBLY_EQUIVALENT_TO, "POSSIBLY EQUIVALENT TO association reference set", "foundation metadata concept", "900000000000521006"),
    (WAS_A, "WAS A association reference set", "foundation metadata concept", "900000000000521006"),
    (POSSIBLY_REPLACED_BY, "POSSIBLY REPLACED BY association reference set", "foundation metadata concept", "900000000000521006"),
    ("900000000000511003", "Acceptability", "core metadata concept", "900000000000454005"),
    (PREFERRED, "Preferred", "core metadata concept", "900000000000511003"),
    (ACCEPTABLE, "Acceptable", "core metadata concept", "900000000000511003"),
    ("900000000000449001", "Characteristic type", "core metadata concept", "900000000000454005"),
    (INFERRED, "Inferred relationship", "core metadata concept", "900000000000449001"),
    ("900000000000450001", "Modifier", "core metadata concept", "900000000000454005"),
    (EXISTENTIAL, "Existential restriction modifier", "core metadata concept", "900000000000450001"),
)


@dataclass(frozen=True)
class _Tag:
    """One kind of generated concept: its semantic tag, top-level concept, share, terms and attributes."""

    tag: str
    top: str
    share: float
    term: Callable[[Callable[[], float]], str]
    #: (attribute type, semantic tag of the target, probability) - each an extra relationship row
    attributes: tuple[tuple[str, str, float], ...] = ()


_TAGS = (
    _Tag("disorder", "404684003", 0.175, _disorder, (
        ("363698007", "body structure", 0.85), ("116676008", "morphologic abnormality", 0.7),
        ("246075003", "substance", 0.12), ("246075003", "organism", 0.08), ("370135005", "qualifier value", 0.08),
    )),
    _Tag("finding", "404684003", 0.125, _finding, (
        ("363698007", "body structure", 0.55), ("116676008", "morphologic abnormality", 0.1),
    )),
    _Tag("procedure", "71388002", 0.16, _procedure, (
        ("260686004", "qualifier value", 0.9), ("405813007", "body structure", 0.75),
        ("363700003", "morphologic abnormality", 0.2), ("424226004", "physical object", 0.15),
    )),
    _Tag("body structure", "123037004", 0.082, _body_structure, (("272741003", "qualifier value", 0.25),)),
    _Tag("morphologic abnormality", "123037004", 0.018, _morphology),
    _Tag("substance", "105590001", 0.08, _substance, (
        ("726542003", "substance", 0.3), ("738774007", "substance", 0.15),
    )),
    _Tag("clinical drug", "373873005", 0.028, _clinical_drug, (
        ("127489000", "substance", 1.0), ("127489000", "substance", 0.25), ("411116001", "dose form", 1.0),
    )),
    _Tag("medicinal product", "373873005", 0.021, _medicinal_product, (
        ("127489000", "substance", 1.0), ("127489000", "substance", 0.15),
    )),
    _Tag("medicinal product form", "373873005", 0.014, _medicinal_product_form, (
        ("127489000", "substance", 1.0), ("411116001", "dose form", 1.0),
    )),
    _Tag("product", "373873005", 0.007, _product),
    _Tag("organism", "410607006", 0.09, _organism),
    _Tag("qualifier value", "362981000", 0.036, _qualifier),
    _Tag("dose form", "362981000", 0.004, _dose_form),
    _Tag("observable entity", "363787002", 0.035, _observable, (
        ("246093002", "substance", 0.6), ("704319004", "body structure", 0.4),
    )),
    _Tag("situation", "243796009", 0.015, _situation, (
        ("246090004", "disorder", 0.9), ("408729009", "qualifier value", 0.95),
        ("408731000", "qualifier value", 0.95), ("408732007", "occupation", 0.95),
    )),
    _Tag("event", "272379006", 0.01, _event),
    _Tag("physical object", "260787004", 0.045, _physical_object),
    _Tag("specimen", "123038009", 0.006, _specimen),
    _Tag("occupation", "48176007", 0.015, _social),
    _Tag("environment", "308916002", 0.006, _environment),
    _Tag("staging scale", "254291000", 0.006, _scale),
    _Tag("record artifact", "419891008", 0.002, _record),
    _Tag("physical force", "78621006", 0.001, _force),
    _Tag("namespace concept", "370115009", 0.001, _namespace),
)

#: Release dates a component's effectiveTime is drawn from, oldest first (older ones are commoner).
_RF2_DATES = tuple(f"{year}0131" for year in range(2002, 2026)) + tuple(f"{year}0731" for year in range(2002, 2022))
_RF2_DATES = tuple(sorted(_RF2_DATES)) + ("20250901",)


def _synonym(r, base: str) -> str:
    """Another name for the same concept: a reworded, abbreviated or qualified variant of `base`."""
    roll = r()
    if roll < 0.25 and " of " in base:
        head, _, tail = base.partition(" of ")
        return _cap(f"{tail} {head.lower()}")
    if roll < 0.4:
        return f"{base}, {_pick(r, ('unspecified', 'NOS', 'site unspecified', 'left side', 'right side', 'finding'))}"
    if roll < 0.5:
        words = [word for word in base.replace("-", " ").split() if word[:1].isalpha()]
        if len(words) >= 2:
            return "".join(word[0] for word in words).upper() + (f" - {base.split()[0].lower()}" if r() < 0.5 else "")
    if roll < 0.72:
        return f"{_pick(r, _QUALIFIERS)} {base[0].lower()}{base[1:]}"
    if roll < 0.85:
        return base.replace("ae", "e").replace("ou", "o").replace("ph", "f").replace("y", "i") + (" (disorder)" if r() < 0.02 else "")
    return _cap(f"{base.lower()} {_pick(r, ('syndrome', 'condition', 'problem', 'finding', 'type'))}")


def _retired_wording(r, base: str) -> str:
    """An old, inactivated wording of `base`, in the styles real releases keep ([X], [D], NOS...)."""
    roll = r()
    if roll < 0.3:
        return f"{base} NOS"
    if roll < 0.45:
        return f"[X]{base}"
    if roll < 0.55:
        return f"[D]{base}"
    if roll < 0.75:
        return f"{base} - {_pick(r, ('obsolete', 'old code', 'retired', 'see comment'))}"
    return f"{base.upper() if r() < 0.3 else base.lower()}"


def generate_rf2(out: Path, scale: float = 1.0, seed: int = DEFAULT_SEED) -> dict:
    """Write an RF2 Snapshot under `out` (about 370k concepts at scale 1.0); returns the manifest."""
    started = time.perf_counter()
    out = Path(out)
    rng = random.Random(seed)
    r = rng.random
    uuid = _uuid_maker(rng)
    fixed_ids = {row[0] for row in _FIXED_CONCEPTS}
    concept_ids = _SctidSequence("00", 10_000, 3.4, rng, fixed_ids)
    description_ids = _SctidSequence("01", 10_000, 2.6, rng, set())
    relationship_ids = _SctidSequence("02", 10_000, 3.1, rng, set())

    files = {
        kind: _Out(out / path, "\t".join(RF2_HEADERS[kind]) + "\r\n") for kind, path in RF2_FILES.items()
    }
    concepts, descriptions, relationships = files["concept"].rows, files["description"].rows, files["relationship"].rows
    language, associations = files["language"].rows, files["association"].rows
    counts = dict.fromkeys((
        "concepts_active", "concepts_inactive", "descriptions_active", "descriptions_inactive",
        "fsn_active", "relationships_active", "relationships_inactive", "is_a_active", "language_active",
        "language_inactive", "language_us_preferred", "language_gb_preferred", "associations_active",
        "associations_inactive",
    ), 0)

    dates = _RF2_DATES
    n_dates = len(dates)

    def describe(concept: str, born: int, base: str, tag: str, module: str, n_synonyms: int, n_retired: int,
                 case: str) -> None:
        """FSN + preferred term + synonyms (active) and retired wordings (inactive), with their language rows."""
        date = dates[born]
        for kind, term in ((FSN, f"{base} ({tag})"), (SYNONYM, base)):
            did = description_ids.next()
            descriptions.append(f"{did}\t{date}\t1\t{module}\t{concept}\ten\t{kind}\t{term}\t{case}\r\n")
            language.append(f"{uuid()}\t{date}\t1\t{module}\t{US_ENGLISH}\t{did}\t{PREFERRED}\r\n")
            if kind == SYNONYM:
                language.append(f"{uuid()}\t{date}\t1\t{module}\t{GB_ENGLISH}\t{did}\t{PREFERRED}\r\n")
        for _ in range(n_synonyms):
            did = description_ids.next()
            ddate = dates[max(born, int(r() * n_dates))] if r() < 0.5 else date
            descriptions.append(
                f"{did}\t{ddate}\t1\t{module}\t{concept}\ten\t{SYNONYM}\t{_synonym(r, base)}\t{case}\r\n"
            )
            language.append(f"{uuid()}\t{ddate}\t1\t{module}\t{US_ENGLISH}\t{did}\t{ACCEPTABLE}\r\n")
        for _ in range(n_retired):
            did = description_ids.next()
            ddate = dates[int(r() * n_dates)]
            descriptions.append(
                f"{did}\t{ddate}\t0\t{module}\t{concept}\ten\t{SYNONYM}\t{_retired_wording(r, base)}\t{case}\r\n"
            )
            if r() < 0.12:
                language.append(f"{uuid()}\t{ddate}\t0\t{module}\t{US_ENGLISH}\t{did}\t{ACCEPTABLE}\r\n")
                counts["language_inactive"] += 1
        counts["descriptions_active"] += 2 + n_synonyms
        counts["descriptions_inactive"] += n_retired
        counts["fsn_active"] += 1
        counts["language_active"] += 3 + n_synonyms
        counts["language_us_preferred"] += 2
        counts["language_gb_preferred"] += 1

    def relate(source: str, date: str, target: str, group: int, kind: str, active: int = 1, module: str = CORE_MODULE) -> None:
        relationships.append(
            f"{relationship_ids.next()}\t{date}\t{active}\t{module}\t{source}\t{target}\t{group}\t{kind}\t{INFERRED}\t{EXISTENTIAL}\r\n"
        )
        counts["relationships_active" if active else "relationships_inactive"] += 1
        if active and kind == IS_A:
            counts["is_a_active"] += 1

    # The fixed concepts: the root, the top-level hierarchies and the metadata the files refer to.
    for sctid, term, tag, parent in _FIXED_CONCEPTS:
        module = CORE_MODULE if parent in (None, ROOT) and not sctid.startswith("9000") else MODEL_MODULE
        concepts.append(f"{sctid}\t20020131\t1\t{module}\t{PRIMITIVE}\r\n")
        counts["concepts_active"] += 1
        describe(sctid, 0, term, tag, module, 0, 0, CASE_SENSITIVE if term[:2].isupper() else CASE_INSENSITIVE)
        if parent is not None:
            relate(sctid, "20020131", parent, 0, IS_A, module=module)

    # Pools of active concepts by semantic tag: the parents and attribute targets of later concepts.
    pools: dict[str, list[str]] = {tag.tag: [] for tag in _TAGS}
    tops = {tag.tag: tag.top for tag in _TAGS}
    pools["occupation"].append("48176007")
    slots: list[_Tag] = []  # 10,000 slots by share: picking a slot picks a tag with the right odds
    total_share = sum(tag.share for tag in _TAGS)
    for tag in _TAGS:
        slots.extend([tag] * round(10_000 * tag.share / total_share))
    n_slots = len(slots)

    target = max(int(round(370_000 * scale)), len(_FIXED_CONCEPTS) + 50) - len(_FIXED_CONCEPTS)
    out_files = tuple(files.values())
    for number in range(target):
        kind = slots[int(r() * n_slots)]
        tag, pool = kind.tag, pools[kind.tag]
        sctid = concept_ids.next()
        born = int(r() * r() * n_dates)  # skewed to old releases
        date = dates[born]
        active = r() >= 0.08
        base = kind.term(r)
        case = CASE_SENSITIVE if base[:1] in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" and kind.term is _organism else (
            INITIAL_INSENSITIVE if r() < 0.08 else CASE_INSENSITIVE
        )
        roll = r()
        n_synonyms = 0 if roll < 0.26 else 1 if roll < 0.62 else 2 if roll < 0.82 else 3 if roll < 0.93 else 4 + int(r() * 4)
        roll = r()
        n_retired = 0 if roll < 0.5 else 1 if roll < 0.78 else 2 if roll < 0.92 else 3
        if active:
            concepts.append(f"{sctid}\t{date}\t1\t{CORE_MODULE}\t{DEFINED if r() < 0.3 else PRIMITIVE}\r\n")
            counts["concepts_active"] += 1
            describe(sctid, born, base, tag, CORE_MODULE, n_synonyms, n_retired, case)
            # is-a: one to three parents among earlier concepts of the same tag, so the graph is a DAG
            roll = r()
            n_parents = 1 if roll < 0.55 else 2 if roll < 0.86 else 3
            parents = {pool[int(r() * len(pool))] for _ in range(n_parents)} if pool else {tops[tag]}
            for parent in parents:
                relate(sctid, date, parent, 0, IS_A)
            group = 0
            for attribute, target_tag, probability in kind.attributes:
                targets = pools[target_tag]
                if targets and r() < probability:
                    group = 1 if len(kind.attributes) > 1 else 0
                    relate(sctid, date, targets[int(r() * len(targets))], group, attribute)
            if group and r() < 0.12:  # a second role group
                attribute, target_tag, _ = kind.attributes[0]
                if pools[target_tag]:
                    relate(sctid, date, pools[target_tag][int(r() * len(pools[target_tag]))], 2, attribute)
            if pool and r() < 0.6:  # a relationship inactivated by an earlier classification
                relate(sctid, dates[int(r() * n_dates)], pool[int(r() * len(pool))], 0, IS_A, active=0)
            pool.append(sctid)
        else:
            retired = dates[min(born + 1 + int(r() * (n_dates - born)), n_dates - 1)]
            concepts.append(f"{sctid}\t{retired}\t0\t{CORE_MODULE}\t{PRIMITIVE}\r\n")
            counts["concepts_inactive"] += 1
            describe(sctid, born, base, tag, CORE_MODULE, min(n_synonyms, 1), n_retired, case)
            for _ in range(1 + (r() < 0.5)):
                relate(sctid, retired, pool[int(r() * len(pool))] if pool else tops[tag], 0, IS_A, active=0)
            if pool and r() < 0.78:
                roll = r()
                refset = (SAME_AS if roll < 0.2 else REPLACED_BY if roll < 0.55 else POSSIBLY_EQUIVALENT_TO
                          if roll < 0.85 else WAS_A if roll < 0.95 else POSSIBLY_REPLACED_BY)
                n_targets = 1 + int(r() * 3) if refset in (POSSIBLY_EQUIVALENT_TO, POSSIBLY_REPLACED_BY) else 1
                for _ in range(n_targets):
                    member_active = r() >= 0.03
                    associations.append(
                        f"{uuid()}\t{retired}\t{int(member_active)}\t{CORE_MODULE}\t{refset}\t{sctid}\t"
                        f"{pool[int(r() * len(pool))]}\r\n"
                    )
                    counts["associations_active" if member_active else "associations_inactive"] += 1
        if number & 255 == 0:
            for handle in out_files:
                handle.spill()
    for handle in out_files:
        handle.close()

    manifest = {
        "format": "rf2",
        "generator": "benchmarks.generate",
        "scale": scale,
        "seed": seed,
        "effective_time": RF2_DATE,
        "files": {kind: {"path": RF2_FILES[kind], "rows": handle.count} for kind, handle in files.items()},
        "counts": counts,
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# --------------------------------------------------------------------------------------------
# RxNorm RRF

_RXN_DOSE_FORMS = _words(
    "Oral Tablet|Oral Capsule|Oral Solution|Oral Suspension|Injectable Solution|Injectable Suspension|"
    "Extended Release Oral Tablet|Delayed Release Oral Capsule|Extended Release Oral Capsule|"
    "Delayed Release Oral Tablet|Topical Cream|Topical Ointment|Topical Gel|Topical Lotion|Topical Solution|"
    "Ophthalmic Solution|Ophthalmic Suspension|Ophthalmic Ointment|Otic Solution|Nasal Spray|"
    "Metered Dose Inhaler|Dry Powder Inhaler|Inhalation Solution|Transdermal System|Rectal Suppository|"
    "Vaginal Cream|Chewable Tablet|Disintegrating Oral Tablet|Sublingual Tablet|Buccal Film|Oral Powder|"
    "Oral Granules|Prefilled Syringe|Auto-Injector|Cartridge|Pen Injector|Injection|Enema|Medicated Shampoo|"
    "Mouthwash|Toothpaste|Oral Lozenge|Oral Spray|Effervescent Oral Tablet|Medicated Patch|"
    "Intrauterine System|Vaginal Ring|Drug Implant|Irrigation Solution|Mucosal Spray|Oral Paste|Oral Film|"
    "Oral Gel|Bar Soap|Sublingual Film|Pellet|Topical Foam|Topical Spray|Paste|Douche|Gas for Inhalation|"
    "Nasal Solution|Nasal Gel|Rectal Cream|Rectal Foam|Extended Release Suspension|"
    "Extended Release Injectable Suspension|Oral Wafer|Urethral Suppository|Vaginal Tablet|Ophthalmic Gel"
)
_RXN_DOSE_FORM_GROUPS = _words(
    "Oral Product|Pill|Oral Liquid Product|Injectable Product|Topical Product|Ophthalmic Product|"
    "Otic Product|Nasal Product|Inhalant Product|Transdermal Product|Rectal Product|Vaginal Product|"
    "Mucosal Product|Dental Product|Buccal Product|Sublingual Product|Implant Product|Irrigation Product|"
    "Urethral Product|Intrauterine Product|Prefilled Syringe Product|Injectable Suspension Product|"
    "Oral Film Product|Medicated Pad or Tape|Shampoo Product|Soap Product|Inhalation Powder Product"
)
_RXN_UNITS = ("MG", "MG", "MG", "MG/ML", "MG/ML", "MCG", "MCG/ML", "UNT/ML", "UNT", "MEQ", "MG/HR", "MCG/ACTUAT",
              "MG/ACTUAT", "% ")
_RXN_FORM_ABBREV = {"Oral Tablet": "TAB", "Oral Capsule": "CAP", "Oral Solution": "SOLN", "Injectable Solution": "INJ"}
_ATC_GROUPS = tuple("ABCDGHJLMNPRSV")
_ATC_LETTERS = tuple("ABCDEFGHX")
_UNII_CHARS = tuple("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ")
_RXN_VERSIONS = tuple(f"RXNORM_{y:02d}{m}_{y:02d}{mm}{d:02d}F" for y in range(4, 25) for m, mm, d in
                      (("AA", "01", 4), ("AB", "07", 6), ("AC", "10", 2)))
_BRAND_ENDS = _words(
    "ex|ix|ol|an|in|ra|ta|via|rex|max|lin|zol|tin|ten|dur|cor|gen|pro|tra|nova|vance|quil|pril|trol|fen"
)
_LABELERS = _words(
    "Acme Pharma Inc.|Northwind Laboratories|Contoso Generics LLC|Fabrikam Health|Tailspin Pharmaceuticals|"
    "Wingtip Drug Co.|Litware Biologics|Proseware Medical|Adventure Works Rx|Coho Vineyard Pharma|"
    "Alpine Ski House Labs|Blue Yonder Therapeutics|Humongous Pharmaceuticals|Lucerne Publishing Drugs"
)
RXNORM_RELEASE = "09022025"  # MMDDYYYY, as NLM names releases: RxNorm_full_09022025.zip
_RXN_SABS = (  # (RSAB, SON, VSAB); SVER is VSAB without the RSAB, as in a real RXNSAB.RRF
    ("RXNORM", "RxNorm Vocabulary", "RXNORM_20AA_250902F"),
    ("MTHSPL", "FDA Structured Product Labels", "MTHSPL_2025_08_29"),
    ("SNOMEDCT_US", "US Edition of SNOMED CT", "SNOMEDCT_US_2025_09_01"),
    ("VANDF", "Veterans Health Administration National Drug File", "VANDF_2025_08_04"),
    ("MMSL", "Multum MediSource Lexicon", "MMSL_2025_08_01"),
    ("NDDF", "FDB MedKnowledge (formerly NDDF Plus)", "NDDF_2025_08_06"),
    ("GS", "Gold Standard Drug Database", "GS_2025_08_05"),
    ("MMX", "Micromedex RED BOOK", "MMX_2025_08_03"),
    ("ATC", "Anatomical Therapeutic Chemical Classification System", "ATC_2025_25_01_01"),
    ("DRUGBANK", "DrugBank", "DRUGBANK5.0_2025_01_02"),
    ("USP", "USP Compendial Nomenclature", "USP_2025_07_31"),
)
#: Source restriction level per SAB (RXNCONSO.SRL).
_SRL = {"RXNORM": "0", "MTHSPL": "0", "SNOMEDCT_US": "9", "VANDF": "0", "MMSL": "2", "NDDF": "3", "GS": "3",
        "MMX": "3", "ATC": "0", "DRUGBANK": "0", "USP": "3"}
_STY = {
    "IN": ("T121", "A1.4.1.1.1", "Pharmacologic Substance"),
    "PIN": ("T109", "A1.4.1.2.1", "Organic Chemical"),
    "MIN": ("T121", "A1.4.1.1.1", "Pharmacologic Substance"),
    "BN": ("T200", "A1.3.3", "Clinical Drug"),
    "DF": ("T167", "A1.4.1", "Substance"),
    "DFG": ("T167", "A1.4.1", "Substance"),
}
_STY_DRUG = ("T200", "A1.3.3", "Clinical Drug")


class _RrfWriter:
    """The RRF files of one release, written as concepts are made, with id sequences and counts."""

    def __init__(self, out: Path, rng: random.Random) -> None:
        self.r = rng.random
        self.files = {name: _Out(out / path) for name, path in RRF_FILES.items()}
        self.conso = self.files["RXNCONSO"].rows
        self.rel = self.files["RXNREL"].rows
        self.sat = self.files["RXNSAT"].rows
        self.sty = self.files["RXNSTY"].rows
        self.cui_history = self.files["RXNCUI"].rows
        self._rxcui = 1
        self._rxaui = 1_000_000
        self._rui = 10_000_000
        self._atui = 100_000_000
        self._code = 100_000
        self.counts: dict[str, int] = {}

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def rxcui(self) -> str:
        """A new RXCUI; some skipped numbers become retired RXCUIs remapped to it (RXNCUI)."""
        gap = 1 + int(self.r() * 14)
        if gap > 1 and self.r() < 0.09:
            retired = self._rxcui + 1
            start, end = sorted((_pick(self.r, _RXN_VERSIONS), _pick(self.r, _RXN_VERSIONS)))
            self._rxcui += gap
            self.cui_history.append(f"{retired}|{start}|{end}|1|{self._rxcui}|\n")
            return str(self._rxcui)
        self._rxcui += gap
        return str(self._rxcui)

    def atom(self, rxcui: str, sab: str, tty: str, code: str, text: str, suppress: str = "N",
             cvf: str = "", scui: str = "", saui: str = "") -> str:
        self._rxaui += 1 + int(self.r() * 9)
        rxaui = str(self._rxaui)
        if sab == "RXNORM":
            saui, scui, code = rxaui, rxcui, rxcui
        self.conso.append(
            f"{rxcui}|ENG||||||{rxaui}|{saui}|{scui}||{sab}|{tty}|{code}|{text}|{_SRL[sab]}|{suppress}|{cvf}|\n"
        )
        self.count(f"conso_{sab}")
        if sab == "RXNORM":
            self.count(f"tty_{tty}")
            if suppress == "N":
                self.count("rxnorm_atoms_not_suppressed")
        return rxaui

    def cui_pair(self, cui1: str, rela: str, cui2: str, inverse: str) -> None:
        """Both rows of an RxNorm concept-level relationship: `cui2 rela cui1` and `cui1 inverse cui2`.

        RRF rows read "RXCUI2 has RELA to RXCUI1": the row (IN, has_ingredient, SCDC) says the SCDC
        has the ingredient. Real releases carry both directions; so do these files.
        """
        self._rui += 2 + int(self.r() * 6)
        self.rel.append(f"{cui1}||CUI|RO|{cui2}||CUI|{rela}|{self._rui}||RXNORM|RXNORM|||N|4096|\n")
        self._rui += 1
        self.rel.append(f"{cui2}||CUI|RO|{cui1}||CUI|{inverse}|{self._rui}||RXNORM|RXNORM|||N|4096|\n")
        self.count("rel_RXNORM", 2)

    def aui_pair(self, sab: str, cui1: str, aui1: str, rela: str, cui2: str, aui2: str, inverse: str) -> None:
        """Both rows of a source (atom-level) relationship, e.g. a SNOMEDCT_US isa between two atoms."""
        self._rui += 2 + int(self.r() * 6)
        rel, inverse_rel = ("CHD", "PAR") if rela == "isa" else ("RO", "RO")
        self.rel.append(f"{cui1}|{aui1}|AUI|{rel}|{cui2}|{aui2}|AUI|{rela}|{self._rui}||{sab}|{sab}|||N||\n")
        self._rui += 1
        self.rel.append(f"{cui2}|{aui2}|AUI|{inverse_rel}|{cui1}|{aui1}|AUI|{inverse}|{self._rui}||{sab}|{sab}|||N||\n")
        self.count(f"rel_{sab}", 2)

    def attribute(self, rxcui: str, rxaui: str, code: str, atn: str, sab: str, value: str, suppress: str = "N") -> None:
        if sab == "RXNORM":
            atui = ""
            cvf = "4096"
        else:
            self._atui += 1 + int(self.r() * 3)
            atui, cvf = f"AT{self._atui}", ""
        self.sat.append(f"{rxcui}|||{rxaui}|AUI|{code}|{atui}||{atn}|{sab}|{value}|{suppress}|{cvf}|\n")
        self.count(f"sat_{atn}_{sab}" if atn == "NDC" else "sat_other")

    def semantic_type(self, rxcui: str, tty: str) -> None:
        tui, stn, sty = _STY.get(tty, _STY_DRUG)
        self.sty.append(f"{rxcui}|{tui}|{stn}|{sty}||4096|\n")

    def code(self, width: int = 6) -> str:
        self._code += 1 + int(self.r() * 5)
        return str(self._code)[-width:].rjust(width, "0")

    def spill(self) -> None:
        for handle in self.files.values():
            handle.spill()

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()


@dataclass(slots=True, eq=False)
class _Drug:
    """What later concepts need to know about an earlier RxNorm concept."""

    rxcui: str
    name: str
    parts: tuple = ()  # the ingredients, components or (ingredient, dose form) it is made of


def _name(drug: _Drug) -> str:
    return drug.name


def generate_rxnorm(out: Path, scale: float = 1.0, seed: int = DEFAULT_SEED) -> dict:
    """Write an RxNorm full release's `rrf/` files under `out` (about 1M RXNCONSO rows at scale 1.0)."""
    started = time.perf_counter()
    out = Path(out)
    rng = random.Random(seed + 1)
    r = rng.random
    w = _RrfWriter(out, rng)
    uuid = _uuid_maker(rng)

    def n_of(count: int) -> int:
        return max(int(round(count * scale)), 3)

    def pick_index(seq) -> int:
        return int(r() * len(seq))

    obsolete_share = 0.09
    snomed_codes = _SctidSequence("00", 10_000, 40.0, rng, set())
    sources = {sab: [] for sab in ("MTHSPL", "SNOMEDCT_US", "VANDF", "MMSL", "NDDF", "GS", "MMX", "ATC", "DRUGBANK", "USP")}

    def source_code(sab: str) -> str:
        """A code in the style of `sab`: ATC N02BE01, DrugBank DB00316, a VANDF VUID, a USP m-number..."""
        if sab == "ATC":
            return f"{_pick(r, _ATC_GROUPS)}{int(r() * 99):02d}{_pick(r, _ATC_LETTERS)}{_pick(r, _ATC_LETTERS)}{int(r() * 99):02d}"
        if sab == "DRUGBANK":
            return f"DB{int(r() * 99999):05d}"
        if sab == "VANDF":
            return str(4_000_000 + int(r() * 999_999))
        if sab == "USP":
            return f"m{int(r() * 999999):06d}"
        return w.code()

    def other_atoms(drug: _Drug, tty: str, level: str) -> None:
        """Atoms of other sources on the same RXCUI, each with a few source relationships."""
        upper = drug.name.upper()
        if level == "ingredient":
            plans = (("SNOMEDCT_US", 0.55), ("MTHSPL", 0.6), ("DRUGBANK", 0.45), ("ATC", 0.3), ("VANDF", 0.35),
                     ("MMSL", 0.45), ("NDDF", 0.5), ("GS", 0.45), ("MMX", 0.4), ("USP", 0.15))
        elif level == "brand":
            plans = (("MMSL", 0.6), ("GS", 0.5), ("MMX", 0.5), ("NDDF", 0.2))
        elif level in ("form", "component"):
            plans = (("GS", 0.15), ("MMSL", 0.1))
        else:
            plans = (("MTHSPL", 0.0), ("SNOMEDCT_US", 0.35), ("VANDF", 0.4), ("MMSL", 0.6), ("NDDF", 0.7),
                     ("GS", 0.6), ("MMX", 0.65), ("USP", 0.05))
        for sab, probability in plans:
            if sab == "MTHSPL" and level == "drug":
                n = 0 if r() < 0.25 else 1 + int(r() * 4)  # one SPL product atom per labeler
            else:
                n = 1 if r() < probability else 0
            for _ in range(n):
                if sab == "SNOMEDCT_US":
                    sctid = snomed_codes.next()
                    if level == "ingredient":
                        fsn, pt = f"{_cap(drug.name)} (substance)", _cap(drug.name)
                    else:
                        fsn, pt = f"Product containing precisely {drug.name} (clinical drug)", _cap(drug.name)
                    aui = w.atom(drug.rxcui, sab, "FN", sctid, fsn, scui=sctid)
                    w.atom(drug.rxcui, sab, "PT", sctid, pt, scui=sctid)
                    n_sy = 1 if r() < 0.3 else 0
                    for _ in range(n_sy):
                        w.atom(drug.rxcui, sab, "SY", sctid, f"{pt} product", scui=sctid)
                elif sab == "MTHSPL":
                    if level == "ingredient":
                        unii = "".join(_pick(r, _UNII_CHARS) for _ in range(10))
                        aui = w.atom(drug.rxcui, sab, "SU", unii, upper)
                    else:
                        ndc = f"{int(r() * 99999):05d}-{int(r() * 9999):04d}"
                        set_id = uuid()
                        text = upper + (", FILM COATED" if r() < 0.2 else "")
                        aui = w.atom(drug.rxcui, sab, "DP", ndc, text, scui=set_id)
                        w.attribute(drug.rxcui, aui, ndc, "NDC", sab, f"{ndc}-{int(r() * 99):02d}")
                        w.attribute(drug.rxcui, aui, ndc, "SPL_SET_ID", sab, set_id)
                        w.attribute(drug.rxcui, aui, ndc, "LABELER", sab, _pick(r, _LABELERS))
                        w.attribute(drug.rxcui, aui, ndc, "MARKETING_CATEGORY", sab,
                                    _pick(r, ("NDA", "ANDA", "BLA", "OTC MONOGRAPH DRUG", "NDA AUTHORIZED GENERIC")))
                        if r() < 0.05:
                            w.attribute(drug.rxcui, aui, ndc, "DCSA", sab, _pick(r, ("CII", "CIII", "CIV", "CV")))
                else:
                    code = source_code(sab)
                    if level == "ingredient":
                        tty = {"ATC": "RXN_IN", "DRUGBANK": "IN", "VANDF": "IN", "NDDF": "IN", "USP": "IN"}.get(sab, "GN" if sab == "MMSL" else "IN")
                        text = upper if sab in ("VANDF", "NDDF") else _cap(drug.name)
                    elif level == "brand":
                        tty, text = "BN", drug.name
                    else:
                        tty = {"NDDF": "CDC", "VANDF": "CD", "USP": "CD"}.get(sab, "BD" if "[" in drug.name else "CD")
                        text = upper.replace(" MG", "MG") if sab in ("VANDF", "NDDF") else drug.name
                    aui = w.atom(drug.rxcui, sab, tty, code, text, scui=code if sab != "MMSL" else "")
                    if level == "drug" and sab in ("VANDF", "MMSL", "GS", "MMX") and r() < 0.5:
                        w.attribute(drug.rxcui, aui, code, "NDC", sab, f"{int(r() * 99999):05d}{int(r() * 9999):04d}{int(r() * 99):02d}")
                    if sab == "VANDF":
                        w.attribute(drug.rxcui, aui, code, "VA_CLASS_NAME", sab, f"[{_pick(r, tuple('ABCDGHJ'))}{int(r() * 900) + 100}] DRUG CLASS")
                pool = sources[sab]
                if level == "ingredient":
                    if pool and r() < 0.9:
                        other = pool[int(r() * len(pool))]
                        w.aui_pair(sab, drug.rxcui, aui, "isa", other[0], other[1], "inverse_isa")
                    pool.append((drug.rxcui, aui))
                elif pool:
                    other = pool[int(r() * len(pool))]
                    rela = "has_active_ingredient" if sab in ("SNOMEDCT_US", "MTHSPL") else "has_ingredient"
                    inverse = "active_ingredient_of" if sab in ("SNOMEDCT_US", "MTHSPL") else "ingredient_of"
                    w.aui_pair(sab, other[0], other[1], rela, drug.rxcui, aui, inverse)
                    if r() < 0.6:
                        other = pool[int(r() * len(pool))]
                        w.aui_pair(sab, other[0], other[1], "has_form" if sab != "SNOMEDCT_US" else "isa",
                                   drug.rxcui, aui, "form_of" if sab != "SNOMEDCT_US" else "inverse_isa")

    def concept(tty: str, name: str, level: str, *, psn: bool = False, sy: float = 0.0, tmsy: float = 0.0,
                ndc: bool = False, attrs: tuple[tuple[str, str], ...] = ()) -> _Drug | None:
        """One RXNORM concept: its atoms (main TTY, PSN/SY/TMSY), semantic type, attributes, other sources.

        Returns None for a concept that is obsolete (SUPPRESS=O): kept in RXNCONSO, never related to.
        """
        rxcui = w.rxcui()
        obsolete = tty not in ("DF", "DFG") and r() < obsolete_share
        suppress = "O" if obsolete else ("Y" if r() < 0.004 else "N")
        cvf = "" if obsolete else "4096"
        aui = w.atom(rxcui, "RXNORM", tty, rxcui, name, suppress=suppress, cvf=cvf)
        w.semantic_type(rxcui, tty)
        w.count(f"concepts_{tty}")
        if obsolete:
            w.count("concepts_obsolete")
            w.attribute(rxcui, aui, rxcui, "RXN_OBSOLETED", "RXNORM", _pick(r, ("01/2019", "06/2021", "11/2023", "03/2025")), suppress="O")
            return None
        if psn and r() < 0.85:
            w.atom(rxcui, "RXNORM", "PSN", rxcui, name[0].upper() + name[1:], cvf=cvf)
        first, _, rest = name.partition(" ")
        if r() < sy:
            short = first[:4].upper() if tty != "IN" else f"{first}um"
            w.atom(rxcui, "RXNORM", "SY", rxcui, f"{short} {rest}".rstrip(), cvf=cvf)
        if r() < tmsy:
            half = max(len(first) // 2, 1)
            w.atom(rxcui, "RXNORM", "TMSY", rxcui, f"{first[:half]}{first[half:].upper()} {rest}".rstrip(), cvf=cvf)
        if ndc:
            for _ in range(0 if r() < 0.15 else 1 + int(r() * 6)):
                w.attribute(rxcui, aui, rxcui, "NDC", "RXNORM", f"{int(r() * 99999):05d}{int(r() * 9999):04d}{int(r() * 99):02d}")
        for atn, value in attrs:
            w.attribute(rxcui, aui, rxcui, atn, "RXNORM", value)
        if r() < 0.3:
            w.attribute(rxcui, aui, rxcui, "RXN_ACTIVATED", "RXNORM", _pick(r, ("01/2007", "05/2012", "08/2016", "02/2020", "09/2024")))
        drug = _Drug(rxcui, name)
        other_atoms(drug, tty, level)
        if len(w.rel) >= 8192:
            w.spill()
        return drug

    # Dose forms and groups: the fixed vocabulary every drug points to.
    groups = [concept("DFG", name, "form") for name in _RXN_DOSE_FORM_GROUPS]
    forms = []
    for name in _RXN_DOSE_FORMS:
        form = concept("DF", name, "form")
        for group in {groups[pick_index(groups)].rxcui for _ in range(1 + (r() < 0.5))}:
            w.cui_pair(group, "has_doseformgroup", form.rxcui, "doseformgroup_of")
        forms.append(form)

    # Ingredients (IN), precise ingredients (PIN, a salt of an IN), multiple ingredients (MIN).
    seen: set[str] = set()
    ingredients: list[_Drug] = []
    for _ in range(n_of(12_000)):
        name = _drug_stem(r)
        while name in seen:
            name = _drug_stem(r) + _pick(r, ("", "ol", "ine", "ate"))
        seen.add(name)
        drug = concept("IN", name, "ingredient", sy=0.15, tmsy=0.03)
        if drug is not None:
            ingredients.append(drug)
    precise: list[_Drug] = []
    for _ in range(n_of(4_000)):
        base = ingredients[pick_index(ingredients)]
        drug = concept("PIN", f"{base.name} {_pick(r, _SALTS)}", "ingredient", sy=0.05)
        if drug is not None:
            w.cui_pair(base.rxcui, "form_of", drug.rxcui, "has_form")
            drug.parts = (base,)
            precise.append(drug)
    for _ in range(n_of(4_500)):
        parts = sorted({ingredients[pick_index(ingredients)] for _ in range(2 + int(r() * 2))}, key=_name)
        drug = concept("MIN", " / ".join(part.name for part in parts), "ingredient")
        if drug is not None:
            for part in parts:
                w.cui_pair(part.rxcui, "part_of", drug.rxcui, "has_part")

    # Brand names (BN), each a tradename of one or two ingredients.
    brands: list[_Drug] = []
    seen.clear()
    for _ in range(n_of(22_000)):
        name = _cap(_pick(r, _DRUG_HEADS) + _pick(r, _DRUG_MIDDLES) + _pick(r, _BRAND_ENDS))
        if name in seen:
            name = f"{name} {_pick(r, ('XR', 'ER', 'Plus', 'Forte', 'HCT', 'DS', 'PM', 'Junior', 'ODT'))}"
        seen.add(name)
        drug = concept("BN", name, "brand", attrs=(("RXN_BN_CARDINALITY", "single" if r() < 0.8 else "multi"),))
        if drug is not None:
            drug.parts = tuple({ingredients[pick_index(ingredients)] for _ in range(1 + (r() < 0.2))})
            for ingredient in drug.parts:
                w.cui_pair(ingredient.rxcui, "has_tradename", drug.rxcui, "tradename_of")
            brands.append(drug)

    # Clinical drug components (SCDC: ingredient + strength), forms (SCDF), groups (SCDG).
    components: list[_Drug] = []
    for _ in range(n_of(30_000)):
        ingredient = ingredients[pick_index(ingredients)]
        strength = f"{_pick(r, _STRENGTHS)} {_pick(r, _RXN_UNITS)}".rstrip()
        drug = concept("SCDC", f"{ingredient.name} {strength}", "component", attrs=(
            ("RXN_STRENGTH", strength), ("RXN_BOSS_STRENGTH_NUM_VALUE", strength.split()[0]),
            ("RXN_BOSS_STRENGTH_NUM_UNIT", strength.split()[-1]), ("RXN_BOSS_FROM", "AI"),
        ))
        if drug is not None:
            w.cui_pair(ingredient.rxcui, "has_ingredient", drug.rxcui, "ingredient_of")
            if precise and r() < 0.3:
                w.cui_pair(precise[pick_index(precise)].rxcui, "has_precise_ingredient", drug.rxcui, "precise_ingredient_of")
            drug.parts = (ingredient,)
            components.append(drug)
    drug_forms: list[_Drug] = []
    for _ in range(n_of(25_000)):
        ingredient, form = ingredients[pick_index(ingredients)], forms[pick_index(forms)]
        drug = concept("SCDF", f"{ingredient.name} {form.name}", "form")
        if drug is not None:
            w.cui_pair(ingredient.rxcui, "has_ingredient", drug.rxcui, "ingredient_of")
            w.cui_pair(form.rxcui, "has_dose_form", drug.rxcui, "dose_form_of")
            drug.parts = (ingredient, form)
            drug_forms.append(drug)
    drug_groups: list[_Drug] = []
    for _ in range(n_of(15_000)):
        ingredient, group = ingredients[pick_index(ingredients)], groups[pick_index(groups)]
        drug = concept("SCDG", f"{ingredient.name} {group.name}", "form")
        if drug is not None:
            w.cui_pair(ingredient.rxcui, "has_ingredient", drug.rxcui, "ingredient_of")
            w.cui_pair(group.rxcui, "has_doseformgroup", drug.rxcui, "doseformgroup_of")
            drug_groups.append(drug)

    # Clinical drugs (SCD): components + dose form; packs later refer to them.
    clinical: list[_Drug] = []
    for _ in range(n_of(45_000)):
        parts = [components[pick_index(components)] for _ in range(1 if r() < 0.8 else 2 + int(r() * 2))]
        form = forms[pick_index(forms)]
        name = f"{' / '.join(part.name for part in parts)} {form.name}"
        strength = " / ".join(part.name.split(" ", 1)[-1] for part in parts)
        drug = concept("SCD", name, "drug", psn=True, sy=0.4, tmsy=0.05, ndc=True, attrs=(
            ("RXN_AVAILABLE_STRENGTH", strength), ("RXN_HUMAN_DRUG", "US"),
            ("RXTERM_FORM", _RXN_FORM_ABBREV.get(form.name, form.name.split()[-1][:4])),
        ))
        if drug is not None:
            for part in parts:
                w.cui_pair(part.rxcui, "constitutes", drug.rxcui, "consists_of")
            w.cui_pair(form.rxcui, "has_dose_form", drug.rxcui, "dose_form_of")
            if drug_forms:
                w.cui_pair(drug_forms[pick_index(drug_forms)].rxcui, "inverse_isa", drug.rxcui, "isa")
            if drug_groups:
                w.cui_pair(drug_groups[pick_index(drug_groups)].rxcui, "inverse_isa", drug.rxcui, "isa")
            drug.parts = tuple(parts)
            clinical.append(drug)
        if len(w.conso) > 8192:
            w.spill()

    # Branded: components (SBDC), forms (SBDF), groups (SBDG), drugs (SBD).
    def brand_of() -> _Drug:
        return brands[pick_index(brands)]

    for tty, count, sources_list, relation in (("SBDC", 25_000, components, "has_ingredient"),
                                               ("SBDF", 20_000, drug_forms, "has_ingredient"),
                                               ("SBDG", 15_000, drug_groups, "has_ingredient")):
        for _ in range(n_of(count)):
            generic, brand = sources_list[pick_index(sources_list)], brand_of()
            name = f"{generic.name} [{brand.name}]" if tty != "SBDG" else f"{brand.name} {generic.name.split(' ', 1)[-1]}"
            drug = concept(tty, name, "component" if tty == "SBDC" else "form")
            if drug is not None:
                w.cui_pair(generic.rxcui, "tradename_of", drug.rxcui, "has_tradename")
                w.cui_pair(brand.rxcui, relation, drug.rxcui, "ingredient_of")
                if tty == "SBDF":
                    w.cui_pair(generic.parts[1].rxcui, "has_dose_form", drug.rxcui, "dose_form_of")
        w.spill()
    branded: list[_Drug] = []
    for _ in range(n_of(25_000)):
        generic, brand = clinical[pick_index(clinical)], brand_of()
        drug = concept("SBD", f"{generic.name} [{brand.name}]", "drug", psn=True, sy=0.3, tmsy=0.02, ndc=True, attrs=(
            ("RXN_AVAILABLE_STRENGTH", generic.name.split(" ", 1)[-1]), ("RXN_HUMAN_DRUG", "US"),
        ))
        if drug is not None:
            w.cui_pair(generic.rxcui, "tradename_of", drug.rxcui, "has_tradename")
            w.cui_pair(brand.rxcui, "has_ingredient", drug.rxcui, "ingredient_of")
            w.cui_pair(forms[pick_index(forms)].rxcui, "has_dose_form", drug.rxcui, "dose_form_of")
            for _ in generic.parts:
                w.cui_pair(components[pick_index(components)].rxcui, "constitutes", drug.rxcui, "consists_of")
            w.cui_pair(drug_forms[pick_index(drug_forms)].rxcui, "inverse_isa", drug.rxcui, "isa")
            w.cui_pair(drug_groups[pick_index(drug_groups)].rxcui, "inverse_isa", drug.rxcui, "isa")
            branded.append(drug)
        if len(w.conso) > 8192:
            w.spill()

    # Packs: generic (GPCK) of clinical drugs, branded (BPCK) of branded drugs.
    packs: list[_Drug] = []
    for _ in range(n_of(1_500)):
        contents = [clinical[pick_index(clinical)] for _ in range(2 + int(r() * 2))]
        name = "{ " + " / ".join(f"{int(r() * 28) + 1} ({c.name})" for c in contents) + " } Pack"
        drug = concept("GPCK", name, "drug", psn=True, ndc=True)
        if drug is not None:
            for content in contents:
                w.cui_pair(content.rxcui, "contained_in", drug.rxcui, "contains")
            w.cui_pair(forms[pick_index(forms)].rxcui, "has_dose_form", drug.rxcui, "dose_form_of")
            packs.append(drug)
    for _ in range(n_of(1_200)):
        generic = packs[pick_index(packs)]
        contents = [branded[pick_index(branded)] for _ in range(2)]
        drug = concept("BPCK", f"{generic.name} [{brand_of().name}]", "drug", psn=True, ndc=True)
        if drug is not None:
            w.cui_pair(generic.rxcui, "tradename_of", drug.rxcui, "has_tradename")
            for content in contents:
                w.cui_pair(content.rxcui, "contained_in", drug.rxcui, "contains")
    w.spill()

    # Concepts with only other sources' atoms (substances and products RxNorm does not normalise).
    for number in range(n_of(40_000)):
        rxcui = w.rxcui()
        roll = r()
        if roll < 0.45:
            name = _substance_name(r)
            drug = _Drug(rxcui, name)
            other_atoms(drug, "IN", "ingredient")
        else:
            name = f"{_drug_stem(r)} {_pick(r, _STRENGTHS)} MG {_pick(r, _RXN_DOSE_FORMS)}"
            other_atoms(_Drug(rxcui, name), "SCD", "drug")
        w.semantic_type(rxcui, "IN" if roll < 0.45 else "SCD")
        if number & 255 == 0:
            w.spill()
    w.close()

    sab_rows = []
    for i, (sab, title, version) in enumerate(_RXN_SABS):
        contact = f";;{title};;;;;;;;;;"
        fields = (f"C{5233800 + i}", f"C{1140000 + i}", version, sab, title, sab, version.removeprefix(sab).lstrip("_"),
                  "", "", "2020AA", "", contact, contact, _SRL[sab], "", "", "", "", "", "ENG", "UTF-8", "Y", "Y",
                  title, contact)
        sab_rows.append("|".join(fields) + "|\n")
    (out / RRF_FILES["RXNSAB"]).write_text("".join(sab_rows))
    (out / f"Readme_full_{RXNORM_RELEASE}.txt").write_text(
        f"README: RxNorm {RXNORM_RELEASE[:2]}/{RXNORM_RELEASE[2:4]}/{RXNORM_RELEASE[4:]} Full Monthly Release\n\n"
        "SYNTHETIC: written by benchmarks.generate for load benchmarks; invented content in the RRF layout.\n"
    )
    manifest = {
        "format": "rxnorm-rrf",
        "generator": "benchmarks.generate",
        "scale": scale,
        "seed": seed,
        "files": {
            name: {"path": RRF_FILES[name], "rows": handle.count} for name, handle in w.files.items()
        } | {"RXNSAB": {"path": RRF_FILES["RXNSAB"], "rows": len(_RXN_SABS)}},
        "counts": dict(sorted(w.counts.items())),
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# --------------------------------------------------------------------------------------------

GENERATORS = {"rf2": generate_rf2, "rxnorm": generate_rxnorm}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("format", choices=sorted(GENERATORS), help="rf2 (SNOMED CT Snapshot) or rxnorm (RRF)")
    parser.add_argument("out", type=Path, help="folder to write the release into (created if absent)")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = a real release's size; 0.01 for tests")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale must be positive")
    manifest = GENERATORS[args.format](args.out, args.scale, args.seed)
    rows = ", ".join(f"{name} {entry['rows']:,}" for name, entry in manifest["files"].items())
    print(f"{args.format} scale {args.scale} -> {args.out} in {manifest['seconds']} s: {rows}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
