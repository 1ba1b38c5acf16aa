"""Write termmap's demo set (`demo/`): SNOMED CT RF2, RxNorm RRF and two local tables, from the tables below.

    python scripts/make_demo_data.py [--out demo]

Every SNOMED CT concept id, RxNorm RXCUI and NDC below is a real, public code. Each row names where
it was checked (`src`, keys of `SOURCES`); nothing here is read at run time, so the script runs in a
clone without `../shared`. Codes that could not be checked were left out (see demo/README.md).

What is generated, deterministically, because the real value is not public or not needed: SNOMED
description and relationship ids (SCTIDs in a range no International release uses, with a valid
Verhoeff check digit), language refset member UUIDs (uuid5), RxNorm RXAUI / RUI / ATUI numbers.
Copied verbatim from shared RF2 files: the description ids of terms taken from them, and the
historical association rows (ids, dates and all).

Output is byte-for-byte the same on every run: fixed dates, sorted rows, no clock, no randomness.
"""
from __future__ import annotations

import argparse
import csv
import io
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

RELEASE_DATE = "20250901"  # the demo SNOMED CT release's effectiveTime
RXNORM_DATE = "09022025"  # the demo RxNorm release (mmddyyyy, as RxNorm names its files)
SNOMED_DIR = f"snomed/SnomedCT_DemoRF2_{RELEASE_DATE}/Snapshot"
RXNORM_DIR = f"rxnorm/RxNorm_demo_{RXNORM_DATE}"

# Namespace of every generated UUID and id: changing it changes every generated id.
DEMO_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://termmap.dev/demo")

# ---------------------------------------------------------------------------------------------
# Where codes were checked. `shared:` sources are files in ../shared/data (tests re-check them);
# the others are public repositories, cited by repository and path.
# ---------------------------------------------------------------------------------------------
SOURCES = {
    "tx2025": "shared: snomed-rf2/tx-ecosystem-int-20250909 (Concept, Description, inferred Relationship, en-US Language)",
    "wci-us": "shared: snomed-rf2/wci-us-20150301-mini (Concept, Description, StatedRelationship)",
    "wci-int": "shared: snomed-rf2/wci-int-20140731-mini (Concept, Description, StatedRelationship, AssociationReference)",
    "synthea-modules": "shared: fhir/synthea-modules (Synthea allergy modules; FSN-style displays)",
    "synthea-bundles": "shared: fhir/synthea-r4-bundles (older Synthea; displays are the SNOMED preferred terms of the time)",
    "synthea-ndjson": "shared: fhir/synthea-bulk-ndjson (AllergyIntolerance and MedicationRequest codings)",
    "us-core": "shared: fhir/us-core-examples (763875007 in allergyintolerance-example.json, 111088007 in -non-pharmacologic-agent-example.json)",
    "ips-bundle": "shared: fhir/ips-examples/bundle-minimal.json",
    "ciel": "shared: local-tables/openmrs-ciel/ciel_allergy_set.csv (SAME-AS SNOMED-CT mappings)",
    "vista": "shared: local-tables/vista-allergies/gmr_allergies.csv (SCT: mappings)",
    "atc-ddd": "shared: local-tables/snomed-substance-atc-ddd/Snomed_Substance_DDDs.tsv (ATC code, SNOMED id, SNOMED FSN)",
    "rxnsty": "shared: rxnorm-rrf/tx-ecosystem-subset-2025/RXNSTY.RRF (the RXCUI exists; semantic type)",
    "rxncui": "shared: rxnorm-rrf/tx-ecosystem-subset-2025/RXNCUI.RRF",
    "p-json": "shared: rxnorm-rrf/rxnorm-ingredients-json/P.json (IN/PIN -> SCDC -> SCD -> SBD + BN, NDCs; 10/06/2025 prescribable)",
    "ips-fsh": "HL7/fhir-ips input/fsh/valuesets/AbsentOrUnknownSNOMEDUvIps.fsh (codes with FSNs)",
    "fhir-nkla": "FHIR R4 core example allergyintolerance-nkla.json, as asserted in nazrulworld/fhir.resources fhir/resources/tests/test_allergyintolerance.py",
    "au-ps": "hl7au/au-fhir-ps input/pagecontent/general-requirements.md (1003774007 'No known Hevea brasiliensis latex allergy')",
    "ccda-on-fhir": "HL7/ccda-on-fhir input/pagecontent/CF-allergies.md (1003774007 as the 'no known latex allergy' concept)",
    "ch-ig": "hl7ch/hl7ch.github.io ig/ch-allergyintolerance/AllergyIntolerance-CH-AllergyIntolerance-IPAG-Recommendation-Table-1.md",
    "bser": "HL7/bser input/fsh/instances/Inline-Instance-for-bundle-bser-referral-request-document-bundle-eve-everywoman-6.fsh ('Amoxicillin-containing product')",
    "ihe-maps": "IHE/PCC.mAPS.us MedicationStatement example ('Product containing amoxicillin (medicinal product)')",
}

# SNOMED CT metadata ids used in the files.
CORE_MODULE = "900000000000207008"
MODEL_MODULE = "900000000000012004"
US_MODULE = "731000124108"
FSN = "900000000000003001"
SYNONYM = "900000000000013009"
PRIMITIVE = "900000000000074008"
DEFINED = "900000000000073002"
CI = "900000000000448009"  # entire term case insensitive
IC = "900000000000020002"  # only initial character case insensitive
CS = "900000000000017005"  # entire term case sensitive
PREFERRED = "900000000000548007"
ACCEPTABLE = "900000000000549004"
US_ENGLISH = "900000000000509007"
INFERRED = "900000000000011006"
SOME = "900000000000451002"
IS_A = "116680003"
HAS_ACTIVE_INGREDIENT = "127489000"
CAUSATIVE_AGENT = "246075003"


@dataclass(frozen=True)
class Sct:
    """One SNOMED CT concept: FSN, preferred term (en-US), acceptable synonyms, where it was checked."""

    id: str
    fsn: str
    pt: str
    synonyms: tuple[str, ...] = ()
    src: str = ""
    case: str = CI
    module: str = CORE_MODULE
    defined: bool = False


# ---------------------------------------------------------------------------------------------
# SNOMED CT concepts. Terms come from the first source named; where a later source (Synthea's
# modules) shows a newer FSN than the 2014/2015 mini snapshots, the newer one is used and the old
# preferred term is kept as an acceptable synonym.
# ---------------------------------------------------------------------------------------------
TOP_CONCEPTS = [
    Sct("138875005", "SNOMED CT Concept (SNOMED RT+CTV3)", "SNOMED CT Concept", src="tx2025", case=CS),
    Sct("105590001", "Substance (substance)", "Substance", ("Substances",), src="tx2025"),
    Sct("404684003", "Clinical finding (finding)", "Clinical finding", src="tx2025"),
    Sct("373873005", "Pharmaceutical / biologic product (product)", "Pharmaceutical / biologic product", src="tx2025"),
    Sct("763158003", "Medicinal product (product)", "Medicinal product", src="tx2025"),
    Sct("243796009", "Situation with explicit context (situation)", "Situation with explicit context",
        ("Context-dependent category",), src="tx2025"),
    Sct("410607006", "Organism (organism)", "Organism", src="tx2025"),
    Sct("410942007", "Drug or medicament (substance)", "Drug or medicament", src="tx2025"),
    Sct("473011001", "Allergic condition (finding)", "Allergic condition", src="tx2025"),
]

ALLERGY_CONCEPTS = [
    Sct("609328004", "Allergic disposition (finding)", "Allergic disposition", ("Allergy",),
        src="synthea-modules; wci-us (synonym, hierarchy)", case=IC, defined=True),
    Sct("419199007", "Allergy to substance (disorder)", "Allergy to substance", src="wci-us", case=IC, defined=True),
    Sct("416098002", "Drug allergy (disorder)", "Drug allergy", ("Allergy to drug", "Medication allergy", "Medicine allergy"),
        src="wci-us; ciel", case=IC, defined=True),
    Sct("416093006", "Allergic reaction to drug (disorder)", "Allergic reaction to drug", ("Allergic drug reaction",),
        src="wci-int", case=IC, defined=True),
    Sct("414285001", "Allergy to food (finding)", "Allergy to food", ("Food allergy",),
        src="synthea-modules; wci-us (synonym, hierarchy); ciel", case=IC, defined=True),
    Sct("91936005", "Allergy to penicillin (finding)", "Allergy to penicillin", src="ciel (id, PT); ch-ig (FSN)", case=IC),
    Sct("91935009", "Allergy to peanut (finding)", "Allergy to peanut", ("Allergy to peanuts",),
        src="synthea-modules; wci-us (synonym, hierarchy); ciel", case=IC, defined=True),
    Sct("91934008", "Allergy to nut (finding)", "Allergy to nut", ("Allergy to nuts", "Nut allergy"),
        src="synthea-modules; wci-int (synonyms, hierarchy)", case=IC, defined=True),
    Sct("300913006", "Allergy to shellfish (finding)", "Allergy to shellfish", ("Shellfish allergy",),
        src="synthea-modules; synthea-bundles (synonym); ciel", case=IC),
    Sct("417532002", "Allergy to fish (finding)", "Allergy to fish", src="synthea-modules; synthea-bundles", case=IC),
    Sct("424213003", "Allergy to bee venom (finding)", "Allergy to bee venom",
        src="synthea-modules; wci-us (hierarchy); ciel", case=IC, defined=True),
    Sct("232350006", "Allergy to dust mite protein (finding)", "Allergy to dust mite protein", ("House dust mite allergy",),
        src="synthea-modules; synthea-bundles (synonym); ciel", case=IC),
    Sct("419474003", "Allergy to mold (finding)", "Allergy to mold", ("Allergy to mould",),
        src="synthea-modules; synthea-bundles (synonym)", case=IC),
    Sct("418689008", "Allergy to grass pollen (finding)", "Allergy to grass pollen", src="synthea-modules; synthea-bundles", case=IC),
    Sct("419263009", "Allergy to tree pollen (finding)", "Allergy to tree pollen", src="synthea-modules; synthea-bundles", case=IC),
    Sct("425525006", "Allergy to dairy product (disorder)", "Allergy to dairy product",
        src="wci-us; synthea-bundles; ciel", case=IC, defined=True),
    Sct("213020009", "Allergy to egg protein (finding)", "Allergy to egg protein", src="synthea-modules; ciel", case=IC),
    Sct("782594005", "Allergy to soy protein (finding)", "Allergy to soy protein", src="synthea-modules", case=IC),
    Sct("420174000", "Allergy to wheat (finding)", "Allergy to wheat", src="synthea-modules; ciel", case=IC),
    Sct("1003755004", "Allergy to Hevea brasiliensis latex protein (finding)", "Allergy to Hevea brasiliensis latex protein",
        src="synthea-modules", case=IC),
    Sct("717234006", "Allergy to animal protein (finding)", "Allergy to animal protein", src="synthea-modules", case=IC),
]

# "No known ..." situations (termmap's negation rules answer with these codes).
NEGATION_CONCEPTS = [
    Sct("716186003", "No known allergy (situation)", "No known allergy", src="ips-fsh; fhir-nkla (nka example)"),
    Sct("409137002", "No known drug allergy (situation)", "No known drug allergy", src="ips-fsh; ciel"),
    Sct("429625007", "No known food allergy (situation)", "No known food allergy", src="ips-fsh"),
    Sct("428607008", "No known environmental allergy (situation)", "No known environmental allergy", src="ips-fsh"),
    Sct("716184000", "No known latex allergy (situation)", "No known latex allergy", src="fhir-nkla"),
    Sct("1003774007", "No known Hevea brasiliensis latex allergy (situation)", "No known Hevea brasiliensis latex allergy",
        src="au-ps; ccda-on-fhir", case=IC),
]

SUBSTANCE_CONCEPTS = [
    # Drugs. The ATC code is the row of atc-ddd that names the SNOMED id and its FSN.
    Sct("373270004", "Substance with penicillin structure and antibacterial mechanism of action (substance)",
        "Substance with penicillin structure and antibacterial mechanism of action", src="ips-bundle"),
    Sct("323389000", "Benzylpenicillin (substance)", "Benzylpenicillin", src="atc-ddd J01CE01"),
    Sct("372725003", "Phenoxymethylpenicillin (substance)", "Phenoxymethylpenicillin", src="atc-ddd J01CE02"),
    Sct("372687004", "Amoxicillin (substance)", "Amoxicillin", src="atc-ddd J01CA04"),
    Sct("387170002", "Ampicillin (substance)", "Ampicillin", src="atc-ddd J01CA01"),
    Sct("387304003", "Cefalexin (substance)", "Cefalexin", src="atc-ddd J01DB01"),
    Sct("108677001", "Cefdinir (substance)", "Cefdinir", src="atc-ddd J01DD15"),
    Sct("363528007", "Sulfamethoxazole (substance)", "Sulfamethoxazole", src="atc-ddd J01EC01"),
    Sct("387179001", "Trimethoprim (substance)", "Trimethoprim", src="atc-ddd J01EA01"),
    Sct("373529000", "Morphine (substance)", "Morphine", src="atc-ddd N02AA01"),
    Sct("387458008", "Aspirin (substance)", "Aspirin", src="atc-ddd N02BA01"),
    Sct("387207008", "Ibuprofen (substance)", "Ibuprofen", src="atc-ddd M01AE01"),
    Sct("372588000", "Naproxen (substance)", "Naproxen", src="atc-ddd M01AE02"),
    Sct("387517004", "Paracetamol (substance)", "Paracetamol", src="atc-ddd N02BE01"),
    Sct("386873009", "Lisinopril (substance)", "Lisinopril", src="atc-ddd C09AA03"),
    Sct("385420005", "Contrast media (substance)", "Contrast media", src="tx2025; vista (CONTRAST MEDIA)"),
    # Foods, venoms and environmental allergens.
    Sct("111088007", "Latex (substance)", "Latex", src="synthea-modules; us-core"),
    Sct("762952008", "Peanut (substance)", "Peanut", src="synthea-modules; synthea-ndjson"),
    Sct("13577000", "Nut (substance)", "Nut", src="wci-us; vista (NUTS)", case=IC),
    Sct("442571000124108", "Tree nut (substance)", "Tree nut", src="wci-us; synthea-modules; vista (TREE NUTS)",
        case=CS, module=US_MODULE),
    Sct("735029006", "Shellfish (substance)", "Shellfish", src="synthea-modules; synthea-ndjson"),
    Sct("735971005", "Fish (substance)", "Fish", src="synthea-modules; synthea-ndjson"),
    Sct("102263004", "Eggs (edible) (substance)", "Eggs (edible)", src="wci-us; synthea-modules; vista (EGGS)", case=IC),
    Sct("70813002", "Milk (substance)", "Milk", ("Milk - dietary",), src="wci-us; vista (MILK)", case=IC),
    Sct("3718001", "Cow's milk (substance)", "Cow's milk", src="wci-int; synthea-modules", case=IC),
    Sct("226760005", "Dairy foods (substance)", "Dairy foods", ("Dairy products",), src="wci-us; vista (DAIRY PRODUCTS)", case=IC),
    Sct("256355007", "Soya bean (substance)", "Soya bean", ("Soy bean", "Soya", "Soyabean"), src="wci-us; vista (SOYBEANS)", case=IC),
    Sct("412071004", "Wheat (substance)", "Wheat", src="wci-us; synthea-modules; vista (WHEAT)", case=IC),
    Sct("288328004", "Bee venom (substance)", "Bee venom", src="synthea-modules; vista (BEE VENOM)"),
    Sct("264287008", "Animal dander (substance)", "Animal dander", src="synthea-modules; vista (ANIMAL DANDER)"),
    Sct("256277009", "Grass pollen (substance)", "Grass pollen", src="synthea-modules; vista (GRASS POLLEN)"),
    Sct("782576004", "Tree pollen (substance)", "Tree pollen", src="synthea-modules"),
    # Organisms recorded as allergens.
    Sct("260147004", "House dust mite (organism)", "House dust mite", src="synthea-modules; vista (DUST MITES)"),
    Sct("84489001", "Mold (organism)", "Mold", src="synthea-modules; vista (MOLD)"),
]

PRODUCT_CONCEPTS = [
    Sct("763875007", "Product containing sulfonamide (product)", "Product containing sulfonamide", src="us-core"),
    Sct("27658006", "Product containing amoxicillin (medicinal product)", "Amoxicillin-containing product",
        src="ihe-maps (FSN); bser (PT)"),
]

# Metadata: every concept the files reference (modules, description types, case significance,
# acceptability, refsets, attributes), with their ancestors up to the root, as in tx2025.
METADATA_CONCEPTS = [
    Sct("900000000000441003", "SNOMED CT Model Component (metadata)", "SNOMED CT Model Component", src="tx2025", case=CS, module=MODEL_MODULE),
    Sct("106237007", "Linkage concept (linkage concept)", "Linkage concept", src="tx2025", module=MODEL_MODULE),
    Sct("246061005", "Attribute (attribute)", "Attribute", src="tx2025", module=MODEL_MODULE),
    Sct("410662002", "Concept model attribute (attribute)", "Concept model attribute", src="tx2025", module=MODEL_MODULE),
    Sct("762705008", "Concept model object attribute (attribute)", "Concept model object attribute", src="tx2025", module=MODEL_MODULE),
    Sct("116680003", "Is a (attribute)", "Is a", src="tx2025", module=MODEL_MODULE),
    Sct("47429007", "Associated with (attribute)", "Associated with", src="tx2025", module=MODEL_MODULE),
    Sct("246075003", "Causative agent (attribute)", "Causative agent", src="tx2025", module=MODEL_MODULE),
    Sct("762951001", "Has ingredient (attribute)", "Has ingredient", src="tx2025", module=MODEL_MODULE),
    Sct("127489000", "Has active ingredient (attribute)", "Has active ingredient", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000442005", "Core metadata concept (core metadata concept)", "Core metadata concept", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000443000", "Module (core metadata concept)", "Module", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000445007", "International Health Terminology Standards Development Organisation maintained module (core metadata concept)",
        "International Health Terminology Standards Development Organisation maintained module", ("IHTSDO maintained module",),
        src="wci-us", case=CS, module=MODEL_MODULE),
    Sct("900000000000207008", "SNOMED CT core module (core metadata concept)", "SNOMED CT core", ("SNOMED CT core module",),
        src="tx2025", case=CS, module=MODEL_MODULE),
    Sct("900000000000012004", "SNOMED CT model component module (core metadata concept)", "SNOMED CT model component",
        ("SNOMED CT model component module",), src="tx2025", case=CS, module=MODEL_MODULE),
    Sct("731000124108", "US National Library of Medicine maintained module (core metadata concept)",
        "US National Library of Medicine maintained module", src="wci-us", case=CS, module=US_MODULE),
    Sct("900000000000444006", "Definition status (core metadata concept)", "Definition status", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000074008", "Not sufficiently defined by necessary conditions definition status (core metadata concept)", "Primitive",
        ("Not sufficiently defined by necessary conditions definition status",), src="tx2025", module=MODEL_MODULE),
    Sct("900000000000073002", "Sufficiently defined by necessary conditions definition status (core metadata concept)", "Defined",
        ("Sufficiently defined by necessary conditions definition status",), src="tx2025", module=MODEL_MODULE),
    Sct("900000000000446008", "Description type (core metadata concept)", "Description type", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000003001", "Fully specified name (core metadata concept)", "Fully specified name", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000013009", "Synonym (core metadata concept)", "Synonym", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000447004", "Case significance (core metadata concept)", "Case significance", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000448009", "Entire term case insensitive (core metadata concept)", "Case insensitive",
        ("Entire term case insensitive",), src="tx2025", module=MODEL_MODULE),
    Sct("900000000000020002", "Only initial character case insensitive (core metadata concept)", "Initial character case insensitive",
        ("Only initial character case insensitive",), src="tx2025", module=MODEL_MODULE),
    Sct("900000000000017005", "Entire term case sensitive (core metadata concept)", "Case sensitive",
        ("Entire term case sensitive",), src="tx2025", module=MODEL_MODULE),
    Sct("900000000000449001", "Characteristic type (core metadata concept)", "Characteristic type", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000006009", "Defining relationship (core metadata concept)", "Defining relationship", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000011006", "Inferred relationship (core metadata concept)", "Inferred relationship", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000450001", "Modifier (core metadata concept)", "Modifier", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000451002", "Existential restriction modifier (core metadata concept)", "Some",
        ("Existential restriction modifier",), src="tx2025", module=MODEL_MODULE),
    Sct("900000000000454005", "Foundation metadata concept (foundation metadata concept)", "Foundation metadata concept", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000455006", "Reference set (foundation metadata concept)", "Reference set", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000506000", "Language type reference set (foundation metadata concept)", "Language type",
        ("Language type reference set",), src="tx2025", module=MODEL_MODULE),
    Sct("900000000000507009", "English [International Organization for Standardization 639-1 code en] language reference set (foundation metadata concept)",
        "English", ("English [International Organization for Standardization 639-1 code en] language reference set",),
        src="tx2025", case=CS, module=MODEL_MODULE),
    Sct("900000000000509007", "United States of America English language reference set (foundation metadata concept)", "US English",
        ("United States of America English language reference set",), src="tx2025", case=CS, module=MODEL_MODULE),
    Sct("900000000000521006", "Association type reference set (foundation metadata concept)", "Association type",
        ("Association type reference set",), src="tx2025", module=MODEL_MODULE),
    Sct("900000000000522004", "Historical association reference set (foundation metadata concept)", "Historical association",
        ("Historical association reference set",), src="tx2025", module=MODEL_MODULE),
    Sct("900000000000527005", "SAME AS association reference set (foundation metadata concept)", "SAME AS association reference set",
        src="wci-us", case=CS, module=MODEL_MODULE),
    Sct("900000000000526001", "REPLACED BY association reference set (foundation metadata concept)", "REPLACED BY association reference set",
        src="tx2025", case=CS, module=MODEL_MODULE),
    Sct("900000000000523009", "POSSIBLY EQUIVALENT TO association reference set (foundation metadata concept)",
        "POSSIBLY EQUIVALENT TO association reference set", src="wci-us", case=CS, module=MODEL_MODULE),
    Sct("900000000000457003", "Reference set attribute (foundation metadata concept)", "Reference set attribute", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000511003", "Acceptability (foundation metadata concept)", "Acceptability", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000548007", "Preferred (foundation metadata concept)", "Preferred", src="tx2025", module=MODEL_MODULE),
    Sct("900000000000549004", "Acceptable (foundation metadata concept)", "Acceptable", src="tx2025", module=MODEL_MODULE),
]


@dataclass(frozen=True)
class Retired:
    """An inactive concept, copied from a shared RF2 file with its own effectiveTime."""

    id: str
    fsn: str
    pt: str
    synonyms: tuple[str, ...]
    effective_time: str
    src: str


# Inactive concepts with historical associations (they feed translate's "historical" rule).
INACTIVE_CONCEPTS = [
    Retired("127072000", "Allergic disorder (disorder)", "Allergic disorder", ("Allergy disorder",), "20060731", "wci-int"),
    Retired("311980000", "Drug, medicament or biological substance (substance)", "Drug, medicament or biological substance",
            ("Drug",), "20040731", "wci-int"),
    Retired("74069000", "Allergic drug reaction (disorder)", "Allergic drug reaction",
            ("Allergic reaction to drug", "Drug allergy"), "20050731", "wci-int"),
]

# Historical association rows, verbatim from wci-int der2_AssociationReferenceSnapshot_INT_20140731.txt:
# (id, effectiveTime, refsetId, referencedComponentId, targetComponentId).
ASSOCIATIONS = [
    ("2c39ff2b-a410-5317-8225-f5979426cac3", "20130131", "900000000000527005", "127072000", "473011001"),  # SAME AS
    ("f8b440b4-711e-5cd9-b957-1cfd7020fd3c", "20040731", "900000000000526001", "311980000", "410942007"),  # REPLACED BY
    ("0d3717c6-2b9b-5857-834a-73d392b311ae", "20050731", "900000000000523009", "74069000", "416093006"),  # POSSIBLY EQUIVALENT TO
    ("b821c863-ea87-5b4d-bc02-6c143755c399", "20050731", "900000000000523009", "74069000", "416098002"),  # POSSIBLY EQUIVALENT TO
]

# Description ids of terms copied from shared RF2 files: (conceptId, term) -> description id.
# Every other description id is generated (see `generated_sctid`).
REAL_DESCRIPTION_IDS = {  # the comment names the shared file it was copied from
    ('3718001', "Cow's milk"): '7272010',  # int14
    ('3718001', "Cow's milk (substance)"): '769017017',  # int14
    ('13577000', 'Nut'): '23177014',  # us
    ('13577000', 'Nut (substance)'): '738947018',  # us
    ('47429007', 'Associated with'): '79074014',  # tx
    ('47429007', 'Associated with (attribute)'): '784886010',  # tx
    ('70813002', 'Milk'): '117631018',  # us
    ('70813002', 'Milk (substance)'): '810910012',  # us
    ('70813002', 'Milk - dietary'): '1233319011',  # us
    ('74069000', 'Allergic drug reaction'): '122990012',  # int14
    ('74069000', 'Allergic drug reaction (disorder)'): '814527017',  # int14
    ('74069000', 'Allergic reaction to drug'): '502603017',  # int14
    ('74069000', 'Drug allergy'): '502602010',  # int14
    ('91934008', 'Allergy to nuts'): '152305019',  # int14
    ('91934008', 'Nut allergy'): '1235714019',  # int14
    ('91935009', 'Allergy to peanuts'): '152306018',  # us
    ('102263004', 'Eggs (edible)'): '165406014',  # us
    ('102263004', 'Eggs (edible) (substance)'): '539390016',  # us
    ('105590001', 'Substance'): '169710016',  # tx
    ('105590001', 'Substance (substance)'): '573283013',  # tx
    ('105590001', 'Substances'): '291656011',  # tx
    ('106237007', 'Linkage concept'): '170667013',  # tx
    ('106237007', 'Linkage concept (linkage concept)'): '2545280012',  # tx
    ('116680003', 'Is a'): '181114011',  # tx
    ('116680003', 'Is a (attribute)'): '680946014',  # tx
    ('127072000', 'Allergic disorder'): '360018',  # int14
    ('127072000', 'Allergic disorder (disorder)'): '731115018',  # int14
    ('127072000', 'Allergy disorder'): '474056016',  # int14
    ('127489000', 'Has active ingredient'): '777016',  # tx
    ('127489000', 'Has active ingredient (attribute)'): '731587013',  # tx
    ('138875005', 'SNOMED CT Concept'): '220309016',  # tx
    ('138875005', 'SNOMED CT Concept (SNOMED RT+CTV3)'): '517382016',  # tx
    ('226760005', 'Dairy foods'): '340517017',  # us
    ('226760005', 'Dairy foods (substance)'): '614161013',  # us
    ('226760005', 'Dairy products'): '2475852016',  # us
    ('243796009', 'Context-dependent category'): '2575824015',  # tx
    ('243796009', 'Situation with explicit context'): '2615979011',  # tx
    ('243796009', 'Situation with explicit context (situation)'): '2609236017',  # tx
    ('246061005', 'Attribute'): '367769015',  # tx
    ('246061005', 'Attribute (attribute)'): '636064014',  # tx
    ('246075003', 'Causative agent'): '367784012',  # tx
    ('246075003', 'Causative agent (attribute)'): '636080016',  # tx
    ('256355007', 'Soy bean'): '2536002018',  # us
    ('256355007', 'Soya'): '381865015',  # us
    ('256355007', 'Soya bean'): '381866019',  # us
    ('256355007', 'Soya bean (substance)'): '647521019',  # us
    ('256355007', 'Soyabean'): '381864016',  # us
    ('311980000', 'Drug'): '1490651018',  # int14
    ('311980000', 'Drug, medicament or biological substance'): '455626015',  # int14
    ('311980000', 'Drug, medicament or biological substance (substance)'): '708600012',  # int14
    ('373873005', 'Pharmaceutical / biologic product'): '1212316016',  # tx
    ('373873005', 'Pharmaceutical / biologic product (product)'): '1199173018',  # tx
    ('385420005', 'Contrast media'): '1479627013',  # tx
    ('385420005', 'Contrast media (substance)'): '1459599010',  # tx
    ('404684003', 'Clinical finding'): '2156578010',  # tx
    ('404684003', 'Clinical finding (finding)'): '2148514019',  # tx
    ('410607006', 'Organism'): '2472261015',  # tx
    ('410607006', 'Organism (organism)'): '2466059019',  # tx
    ('410662002', 'Concept model attribute'): '2472316017',  # tx
    ('410662002', 'Concept model attribute (attribute)'): '2466114012',  # tx
    ('410942007', 'Drug or medicament'): '2472589016',  # tx
    ('410942007', 'Drug or medicament (substance)'): '2466393013',  # tx
    ('412071004', 'Wheat'): '2473677016',  # us
    ('412071004', 'Wheat (substance)'): '2467523010',  # us
    ('414285001', 'Food allergy'): '2534292019',  # us
    ('416093006', 'Allergic drug reaction'): '2553664016',  # int14
    ('416093006', 'Allergic reaction to drug'): '2548494012',  # int14
    ('416093006', 'Allergic reaction to drug (disorder)'): '2546216015',  # int14
    ('416098002', 'Allergy to drug'): '2553667011',  # us
    ('416098002', 'Drug allergy'): '2548499019',  # us
    ('416098002', 'Drug allergy (disorder)'): '2546221017',  # us
    ('416098002', 'Medication allergy'): '2901195012',  # us
    ('416098002', 'Medicine allergy'): '2901196013',  # us
    ('419199007', 'Allergy to substance'): '2576504018',  # us
    ('419199007', 'Allergy to substance (disorder)'): '2573233012',  # us
    ('424213003', 'Allergy to bee venom'): '2645984014',  # us
    ('425525006', 'Allergy to dairy product'): '2675846010',  # us
    ('425525006', 'Allergy to dairy product (disorder)'): '2662118015',  # us
    ('473011001', 'Allergic condition'): '2955675016',  # tx
    ('473011001', 'Allergic condition (finding)'): '3743666010',  # tx
    ('609328004', 'Allergic disposition'): '2958703017',  # us
    ('609328004', 'Allergy'): '2958622019',  # us
    ('762705008', 'Concept model object attribute'): '3635488015',  # tx
    ('762705008', 'Concept model object attribute (attribute)'): '3635487013',  # tx
    ('762951001', 'Has ingredient'): '3635995016',  # tx
    ('762951001', 'Has ingredient (attribute)'): '3635994017',  # tx
    ('763158003', 'Medicinal product'): '3638030011',  # tx
    ('763158003', 'Medicinal product (product)'): '3638029018',  # tx
    ('731000124108', 'US National Library of Medicine maintained module'): '1631000124116',  # us
    ('731000124108', 'US National Library of Medicine maintained module (core metadata concept)'): '1621000124119',  # us
    ('442571000124108', 'Tree nut'): '658141000124113',  # us
    ('442571000124108', 'Tree nut (substance)'): '658131000124115',  # us
    ('900000000000003001', 'Fully specified name'): '900000000000007016',  # tx
    ('900000000000003001', 'Fully specified name (core metadata concept)'): '900000000000008014',  # tx
    ('900000000000006009', 'Defining relationship'): '900000000000013013',  # tx
    ('900000000000006009', 'Defining relationship (core metadata concept)'): '900000000000014019',  # tx
    ('900000000000011006', 'Inferred relationship'): '900000000000031014',  # tx
    ('900000000000011006', 'Inferred relationship (core metadata concept)'): '900000000000032019',  # tx
    ('900000000000012004', 'SNOMED CT model component'): '900000000000034018',  # tx
    ('900000000000012004', 'SNOMED CT model component module'): '900000000000035017',  # tx
    ('900000000000012004', 'SNOMED CT model component module (core metadata concept)'): '900000000000033012',  # tx
    ('900000000000013009', 'Synonym'): '900000000000037013',  # tx
    ('900000000000013009', 'Synonym (core metadata concept)'): '900000000000036016',  # tx
    ('900000000000017005', 'Case sensitive'): '900000000000045015',  # tx
    ('900000000000017005', 'Entire term case sensitive'): '900000000000047011',  # tx
    ('900000000000017005', 'Entire term case sensitive (core metadata concept)'): '900000000000044016',  # tx
    ('900000000000020002', 'Initial character case insensitive'): '900000000000054017',  # tx
    ('900000000000020002', 'Only initial character case insensitive'): '900000000000056015',  # tx
    ('900000000000020002', 'Only initial character case insensitive (core metadata concept)'): '900000000000053011',  # tx
    ('900000000000073002', 'Defined'): '900000000000165013',  # tx
    ('900000000000073002', 'Sufficiently defined by necessary conditions definition status'): '3754722018',  # tx
    ('900000000000073002', 'Sufficiently defined by necessary conditions definition status (core metadata concept)'): '3754721013',  # tx
    ('900000000000074008', 'Not sufficiently defined by necessary conditions definition status'): '3754720014',  # tx
    ('900000000000074008', 'Not sufficiently defined by necessary conditions definition status (core metadata concept)'): '3754719015',  # tx
    ('900000000000074008', 'Primitive'): '900000000000171019',  # tx
    ('900000000000207008', 'SNOMED CT core'): '900000000000437018',  # tx
    ('900000000000207008', 'SNOMED CT core module'): '900000000000436010',  # tx
    ('900000000000207008', 'SNOMED CT core module (core metadata concept)'): '900000000000438011',  # tx
    ('900000000000441003', 'SNOMED CT Model Component'): '900000000000951010',  # tx
    ('900000000000441003', 'SNOMED CT Model Component (metadata)'): '900000000000952015',  # tx
    ('900000000000442005', 'Core metadata concept'): '900000000000953013',  # tx
    ('900000000000442005', 'Core metadata concept (core metadata concept)'): '900000000000954019',  # tx
    ('900000000000443000', 'Module'): '900000000000955018',  # tx
    ('900000000000443000', 'Module (core metadata concept)'): '900000000000956017',  # tx
    ('900000000000444006', 'Definition status'): '900000000000958016',  # tx
    ('900000000000444006', 'Definition status (core metadata concept)'): '900000000000957014',  # tx
    ('900000000000445007', 'IHTSDO maintained module'): '900000000000959012',  # us
    ('900000000000445007', 'International Health Terminology Standards Development Organisation maintained module'): '900000000000961015',  # us
    ('900000000000445007', 'International Health Terminology Standards Development Organisation maintained module (core metadata concept)'): '900000000000960019',  # us
    ('900000000000446008', 'Description type'): '900000000000963017',  # tx
    ('900000000000446008', 'Description type (core metadata concept)'): '900000000000962010',  # tx
    ('900000000000447004', 'Case significance'): '900000000000965012',  # tx
    ('900000000000447004', 'Case significance (core metadata concept)'): '900000000000964011',  # tx
    ('900000000000448009', 'Case insensitive'): '900000000000968014',  # tx
    ('900000000000448009', 'Entire term case insensitive'): '900000000000966013',  # tx
    ('900000000000448009', 'Entire term case insensitive (core metadata concept)'): '900000000000967016',  # tx
    ('900000000000449001', 'Characteristic type'): '900000000000970017',  # tx
    ('900000000000449001', 'Characteristic type (core metadata concept)'): '900000000000969018',  # tx
    ('900000000000450001', 'Modifier'): '900000000000971018',  # tx
    ('900000000000450001', 'Modifier (core metadata concept)'): '900000000000972013',  # tx
    ('900000000000451002', 'Existential restriction modifier'): '900000000000974014',  # tx
    ('900000000000451002', 'Existential restriction modifier (core metadata concept)'): '900000000000975010',  # tx
    ('900000000000451002', 'Some'): '900000000000973015',  # tx
    ('900000000000454005', 'Foundation metadata concept'): '900000000000982014',  # tx
    ('900000000000454005', 'Foundation metadata concept (foundation metadata concept)'): '900000000000981019',  # tx
    ('900000000000455006', 'Reference set'): '900000000000983016',  # tx
    ('900000000000455006', 'Reference set (foundation metadata concept)'): '900000000000984010',  # tx
    ('900000000000457003', 'Reference set attribute'): '900000000000989017',  # tx
    ('900000000000457003', 'Reference set attribute (foundation metadata concept)'): '900000000000988013',  # tx
    ('900000000000506000', 'Language type'): '900000000001107014',  # tx
    ('900000000000506000', 'Language type reference set'): '900000000001108016',  # tx
    ('900000000000506000', 'Language type reference set (foundation metadata concept)'): '900000000001106017',  # tx
    ('900000000000507009', 'English'): '900000000001111015',  # tx
    ('900000000000507009', 'English [International Organization for Standardization 639-1 code en] language reference set'): '900000000001109012',  # tx
    ('900000000000507009', 'English [International Organization for Standardization 639-1 code en] language reference set (foundation metadata concept)'): '900000000001110019',  # tx
    ('900000000000509007', 'US English'): '900000000001116013',  # tx
    ('900000000000509007', 'United States of America English language reference set'): '900000000001115012',  # tx
    ('900000000000509007', 'United States of America English language reference set (foundation metadata concept)'): '900000000001117016',  # tx
    ('900000000000511003', 'Acceptability'): '900000000001120012',  # tx
    ('900000000000511003', 'Acceptability (foundation metadata concept)'): '900000000001121011',  # tx
    ('900000000000521006', 'Association type'): '900000000001144014',  # tx
    ('900000000000521006', 'Association type reference set'): '900000000001146011',  # tx
    ('900000000000521006', 'Association type reference set (foundation metadata concept)'): '900000000001145010',  # tx
    ('900000000000522004', 'Historical association'): '900000000001149016',  # tx
    ('900000000000522004', 'Historical association reference set'): '900000000001147019',  # tx
    ('900000000000522004', 'Historical association reference set (foundation metadata concept)'): '900000000001148012',  # tx
    ('900000000000523009', 'POSSIBLY EQUIVALENT TO association reference set'): '900000000001151017',  # us
    ('900000000000523009', 'POSSIBLY EQUIVALENT TO association reference set (foundation metadata concept)'): '900000000001150016',  # us
    ('900000000000526001', 'REPLACED BY association reference set'): '900000000001157018',  # tx
    ('900000000000526001', 'REPLACED BY association reference set (foundation metadata concept)'): '900000000001156010',  # tx
    ('900000000000527005', 'SAME AS association reference set'): '900000000001159015',  # us
    ('900000000000527005', 'SAME AS association reference set (foundation metadata concept)'): '900000000001158011',  # us
    ('900000000000548007', 'Preferred'): '900000000001207016',  # tx
    ('900000000000548007', 'Preferred (foundation metadata concept)'): '900000000001206013',  # tx
    ('900000000000549004', 'Acceptable'): '900000000001209018',  # tx
    ('900000000000549004', 'Acceptable (foundation metadata concept)'): '900000000001208014',  # tx
}

# ---------------------------------------------------------------------------------------------
# Is-a rows: (child, parent, basis). Each links a concept to its nearest ancestor *in the demo*,
# as SNOMED's sub-ontology extracts do (the real proximal parent may be a concept left out).
#   tx2025            direct parent in the tx2025 inferred Relationship file
#   tx2025 chain      ancestor through tx2025 parents not in the demo
#   wci-us / wci-int  direct parent in that mini set's StatedRelationship file (chain: through others)
#   top level         the semantic tag's top-level hierarchy (every "(substance)" is a Substance, ...)
#   atc J01C          ATC J01C "beta-lactam antibacterials, penicillins" (atc-ddd) = 373270004's definition
#   meaning           not in a shared relationship file: an allergy to a drug / food is a drug / food allergy
# ---------------------------------------------------------------------------------------------
IS_A_ROWS = [
    ("105590001", "138875005", "tx2025"),
    ("404684003", "138875005", "tx2025"),
    ("373873005", "138875005", "tx2025"),
    ("243796009", "138875005", "tx2025"),
    ("410607006", "138875005", "tx2025"),
    ("763158003", "373873005", "tx2025"),
    ("410942007", "105590001", "tx2025"),
    ("473011001", "404684003", "tx2025 chain"),
    # allergies
    ("609328004", "473011001", "wci-us"),
    ("419199007", "609328004", "wci-us"),
    ("416098002", "419199007", "wci-us"),
    ("416093006", "473011001", "wci-int chain"),
    ("414285001", "419199007", "wci-us"),
    ("91935009", "414285001", "wci-us chain"),
    ("91934008", "414285001", "wci-int chain"),
    ("424213003", "419199007", "wci-us"),
    ("425525006", "414285001", "wci-us"),
    ("91936005", "416098002", "meaning"),
    ("300913006", "414285001", "meaning"),
    ("417532002", "414285001", "meaning"),
    ("213020009", "414285001", "meaning"),
    ("782594005", "414285001", "meaning"),
    ("420174000", "414285001", "meaning"),
    ("232350006", "609328004", "meaning"),
    ("419474003", "609328004", "meaning"),
    ("418689008", "609328004", "meaning"),
    ("419263009", "609328004", "meaning"),
    ("1003755004", "609328004", "meaning"),
    ("717234006", "609328004", "meaning"),
    # "no known ..." situations
    ("716186003", "243796009", "top level"),
    ("409137002", "243796009", "top level"),
    ("429625007", "243796009", "top level"),
    ("428607008", "243796009", "top level"),
    ("716184000", "243796009", "top level"),
    ("1003774007", "243796009", "top level"),
    # substances
    ("373270004", "105590001", "top level"),
    ("323389000", "373270004", "atc J01C"),
    ("372725003", "373270004", "atc J01C"),
    ("372687004", "373270004", "atc J01C"),
    ("387170002", "373270004", "atc J01C"),
    ("387304003", "105590001", "top level"),
    ("108677001", "105590001", "top level"),
    ("363528007", "105590001", "top level"),
    ("387179001", "105590001", "top level"),
    ("373529000", "105590001", "top level"),
    ("387458008", "105590001", "top level"),
    ("387207008", "105590001", "top level"),
    ("372588000", "105590001", "top level"),
    ("387517004", "105590001", "top level"),
    ("386873009", "105590001", "top level"),
    ("385420005", "105590001", "tx2025"),
    ("111088007", "105590001", "top level"),
    ("762952008", "105590001", "top level"),
    ("13577000", "105590001", "wci-us chain"),
    ("442571000124108", "13577000", "wci-us"),
    ("735029006", "105590001", "top level"),
    ("735971005", "105590001", "top level"),
    ("102263004", "105590001", "wci-us chain"),
    ("226760005", "105590001", "wci-us chain"),
    ("70813002", "226760005", "wci-us"),
    ("3718001", "70813002", "wci-int"),
    ("256355007", "105590001", "wci-us chain"),
    ("412071004", "105590001", "wci-us chain"),
    ("288328004", "105590001", "top level"),
    ("264287008", "105590001", "top level"),
    ("256277009", "105590001", "top level"),
    ("782576004", "105590001", "top level"),
    ("260147004", "410607006", "top level"),
    ("84489001", "410607006", "top level"),
    # products
    ("763875007", "373873005", "top level"),
    ("27658006", "763158003", "top level"),
    # metadata, all direct parents in tx2025 (wci-us where tx2025 lacks the concept)
    ("900000000000441003", "138875005", "tx2025"),
    ("106237007", "900000000000441003", "tx2025"),
    ("246061005", "106237007", "tx2025"),
    ("410662002", "246061005", "tx2025"),
    ("762705008", "410662002", "tx2025"),
    ("116680003", "246061005", "tx2025"),
    ("47429007", "762705008", "tx2025"),
    ("246075003", "47429007", "tx2025"),
    ("762951001", "762705008", "tx2025"),
    ("127489000", "762951001", "tx2025"),
    ("900000000000442005", "900000000000441003", "tx2025"),
    ("900000000000443000", "900000000000442005", "tx2025"),
    ("900000000000445007", "900000000000443000", "wci-us"),
    ("900000000000207008", "900000000000445007", "wci-us"),
    ("900000000000012004", "900000000000445007", "wci-us"),
    ("731000124108", "900000000000443000", "wci-us"),
    ("900000000000444006", "900000000000442005", "tx2025"),
    ("900000000000074008", "900000000000444006", "tx2025"),
    ("900000000000073002", "900000000000444006", "tx2025"),
    ("900000000000446008", "900000000000442005", "tx2025"),
    ("900000000000003001", "900000000000446008", "tx2025"),
    ("900000000000013009", "900000000000446008", "tx2025"),
    ("900000000000447004", "900000000000442005", "tx2025"),
    ("900000000000448009", "900000000000447004", "tx2025"),
    ("900000000000020002", "900000000000447004", "tx2025"),
    ("900000000000017005", "900000000000447004", "tx2025"),
    ("900000000000449001", "900000000000442005", "tx2025"),
    ("900000000000006009", "900000000000449001", "tx2025"),
    ("900000000000011006", "900000000000006009", "tx2025"),
    ("900000000000450001", "900000000000442005", "tx2025"),
    ("900000000000451002", "900000000000450001", "tx2025"),
    ("900000000000454005", "900000000000441003", "tx2025"),
    ("900000000000455006", "900000000000454005", "tx2025"),
    ("900000000000506000", "900000000000455006", "tx2025"),
    ("900000000000507009", "900000000000506000", "tx2025"),
    ("900000000000509007", "900000000000507009", "tx2025"),
    ("900000000000521006", "900000000000455006", "tx2025"),
    ("900000000000522004", "900000000000521006", "tx2025"),
    ("900000000000527005", "900000000000522004", "wci-us"),
    ("900000000000526001", "900000000000522004", "tx2025"),
    ("900000000000523009", "900000000000522004", "wci-us"),
    ("900000000000457003", "900000000000454005", "tx2025"),
    ("900000000000511003", "900000000000457003", "tx2025"),
    ("900000000000548007", "900000000000511003", "tx2025"),
    ("900000000000549004", "900000000000511003", "tx2025"),
]

# Attribute rows: (source, type, destination, relationshipGroup, basis).
ATTRIBUTE_ROWS = [
    ("27658006", HAS_ACTIVE_INGREDIENT, "372687004", "1", "meaning: 'Product containing amoxicillin' (group 1 as in tx2025)"),
    ("416098002", CAUSATIVE_AGENT, "410942007", "1", "wci-us stated"),
    ("425525006", CAUSATIVE_AGENT, "226760005", "1", "wci-us stated"),
]

# ---------------------------------------------------------------------------------------------
# RxNorm. Names are RxNorm's STR as the source shows it: P.json (10/06/2025) writes ingredient
# names in lower case, Synthea's clinical drug names are those of older releases.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rx:
    """One RxNorm concept: RXCUI, term type, name, where it was checked."""

    rxcui: str
    tty: str
    name: str
    src: str


RXNORM_CONCEPTS = [
    # penicillin G and V: the whole chain from P.json
    Rx("7980", "IN", "penicillin G", "p-json; rxnsty (Antibiotic)"),
    Rx("203133", "PIN", "penicillin G potassium", "p-json"),
    Rx("7982", "PIN", "penicillin G benzathine", "p-json"),
    Rx("863537", "SCDC", "penicillin G potassium 1000000 UNT/ML", "p-json"),
    Rx("863538", "SCD", "penicillin G potassium 1000000 UNT/ML Injectable Solution", "p-json"),
    Rx("995906", "SBD", "penicillin G potassium 1000000 UNT/ML Injectable Solution [Pfizerpen]", "p-json"),
    Rx("8096", "BN", "Pfizerpen", "p-json"),
    Rx("731542", "SCDC", "penicillin G benzathine 600000 UNT/ML", "p-json"),
    Rx("731567", "SCD", "2 ML penicillin G benzathine 600000 UNT/ML Prefilled Syringe", "p-json"),
    Rx("731568", "SBD", "2 ML penicillin G benzathine 600000 UNT/ML Prefilled Syringe [Bicillin L-A]", "p-json"),
    Rx("215674", "BN", "Bicillin L-A", "p-json"),
    Rx("7984", "IN", "penicillin V", "p-json; synthea-ndjson; synthea-modules"),
    Rx("203195", "PIN", "penicillin V potassium", "p-json"),
    Rx("834060", "SCDC", "penicillin V potassium 250 MG", "p-json"),
    Rx("834061", "SCD", "penicillin V potassium 250 MG Oral Tablet", "p-json; synthea-ndjson"),
    Rx("834101", "SCDC", "penicillin V potassium 500 MG", "p-json"),
    Rx("834102", "SCD", "penicillin V potassium 500 MG Oral Tablet", "p-json; synthea-ndjson"),
    # ingredients recorded as allergens (lower case as RxNorm writes IN names)
    Rx("2231", "IN", "cephalexin", "synthea-modules"),
    Rx("25037", "IN", "cefdinir", "synthea-modules; synthea-ndjson"),
    # TTY: not in a shared file; " / " between ingredients is the MIN name pattern (cf. P.json 466553)
    Rx("10831", "MIN", "sulfamethoxazole / trimethoprim", "synthea-modules; synthea-ndjson"),
    Rx("2670", "IN", "codeine", "rxnsty (Pharmacologic Substance)"),
    Rx("7052", "IN", "morphine", "rxnsty (Pharmacologic Substance)"),
    Rx("1191", "IN", "aspirin", "rxnsty (Pharmacologic Substance); synthea-ndjson; synthea-modules"),
    Rx("5640", "IN", "ibuprofen", "rxnsty (Pharmacologic Substance); synthea-ndjson; synthea-modules"),
    Rx("7258", "IN", "naproxen", "rxnsty (Pharmacologic Substance)"),
    Rx("161", "IN", "acetaminophen", "rxnsty (Pharmacologic Substance)"),
    Rx("29046", "IN", "lisinopril", "synthea-ndjson; synthea-modules; ciel (SAME-AS RxNORM:29046)"),
    # clinical drugs prescribed in the Synthea data (TTY from the name: "[Brand]" makes an SBD)
    Rx("308192", "SCD", "Amoxicillin 500 MG Oral Tablet", "synthea-ndjson"),
    Rx("562251", "SCD", "Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet", "synthea-ndjson"),
    Rx("243670", "SCD", "Aspirin 81 MG Oral Tablet", "synthea-ndjson; rxnsty (Clinical Drug)"),
    Rx("198405", "SCD", "Ibuprofen 100 MG Oral Tablet", "synthea-ndjson; rxnsty (Clinical Drug)"),
    Rx("310965", "SCD", "Ibuprofen 200 MG Oral Tablet", "synthea-ndjson; rxnsty (Clinical Drug)"),
    Rx("849574", "SCD", "Naproxen sodium 220 MG Oral Tablet", "synthea-ndjson"),
    Rx("313782", "SCD", "Acetaminophen 325 MG Oral Tablet", "synthea-ndjson; synthea-bundles; rxnsty (Clinical Drug)"),
    Rx("209387", "SBD", "Acetaminophen 325 MG Oral Tablet [Tylenol]", "synthea-ndjson; rxnsty (Clinical Drug)"),
    Rx("314076", "SCD", "lisinopril 10 MG Oral Tablet", "synthea-ndjson"),
]

# (second, RELA, first): "second RELA first", e.g. ("834060", "has_ingredient", "7984") is the
# SCDC that has ingredient penicillin V. The RXNREL row is RXCUI1=first, RELA, RXCUI2=second, and
# the inverse row (RXCUI1=second, INVERSE[RELA], RXCUI2=first) is written too, as RxNorm does.
RXNORM_RELATIONS = [
    ("203133", "form_of", "7980"),
    ("7982", "form_of", "7980"),
    ("203195", "form_of", "7984"),
    ("863537", "has_ingredient", "7980"),
    ("863537", "has_precise_ingredient", "203133"),
    ("863538", "consists_of", "863537"),
    ("995906", "tradename_of", "863538"),
    ("995906", "has_ingredient", "8096"),
    ("8096", "tradename_of", "7980"),
    ("731542", "has_ingredient", "7980"),
    ("731542", "has_precise_ingredient", "7982"),
    ("731567", "consists_of", "731542"),
    ("731568", "tradename_of", "731567"),
    ("731568", "has_ingredient", "215674"),
    ("215674", "tradename_of", "7980"),
    ("834060", "has_ingredient", "7984"),
    ("834060", "has_precise_ingredient", "203195"),
    ("834061", "consists_of", "834060"),
    ("834101", "has_ingredient", "7984"),
    ("834101", "has_precise_ingredient", "203195"),
    ("834102", "consists_of", "834101"),
    ("209387", "tradename_of", "313782"),  # SBD name = SCD name + " [Tylenol]"
]
INVERSE = {
    "has_ingredient": "ingredient_of",
    "has_precise_ingredient": "precise_ingredient_of",
    "consists_of": "constitutes",
    "tradename_of": "has_tradename",
    "form_of": "has_form",
}

# NDCs (11-digit, as RXNSAT ATN=NDC SAB=RXNORM has them), the first three P.json lists for each drug.
RXNORM_NDCS = {
    "863538": ("00781613594", "00781613595", "00781613694"),
    "995906": ("00049042005", "00049042010", "00049043020"),
    "731568": ("50090101600", "50090101601", "60793070102"),
    "834061": ("00093117201", "00093117210", "00143983701"),
    "834102": ("00093117401", "00093117410", "00093519501"),
}

# SNOMEDCT_US atoms (TTY=PT) in RxNorm ingredient concepts. A pair is kept only where the RxNorm
# ingredient name and the SNOMED substance FSN (atc-ddd) name the same substance in the same words;
# pairs whose names differ (acetaminophen/paracetamol, cephalexin/cefalexin, penicillin V/
# phenoxymethylpenicillin, penicillin G/benzylpenicillin) are left out. No pair here is in the NLM
# curation list (rxnorm-snomed-substance-curation), which holds none of these ingredients.
RXNORM_SNOMED_ATOMS = [
    ("1191", "387458008", "Aspirin"),
    ("5640", "387207008", "Ibuprofen"),
    ("7258", "372588000", "Naproxen"),
    ("7052", "373529000", "Morphine"),
    ("29046", "386873009", "Lisinopril"),
    ("25037", "108677001", "Cefdinir"),
]

# Three real RXNCUI.RRF rows (retired cui1 -> current cui2) whose cui2 is a demo concept, verbatim (rxncui).
RXNCUI_ROWS = [
    ("206884", "RXNORM_10AB_110307F", "RXNORM_10AB_110307F", "1", "310965"),
    ("211894", "RXNORM_04AC_050210F", "RXNORM_09AA_090601F", "1", "243670"),
    ("602977", "RXNORM_10AB_110103F", "RXNORM_10AB_110103F", "1", "313782"),
]

# ---------------------------------------------------------------------------------------------
# Local tables: a hospital's allergen list and pharmacy formulary. Local codes are invented, as
# local codes are; the target columns hold only codes from the tables above. Misspellings and
# class names are deliberate: they must not map exactly.
# ---------------------------------------------------------------------------------------------
ALLERGENS = [
    # (code, name, type, synonyms, snomed)
    ("PCN", "Penicillins", "drug", "PENICILLIN|PCN|PEN", "373270004"),
    ("PENG", "Penicillin G", "drug", "BENZYLPENICILLIN|PEN G", "323389000"),
    ("PENV", "Penicillin V", "drug", "PEN VK|PHENOXYMETHYLPENICILLIN", "372725003"),
    ("AMOX", "Amoxicillin", "drug", "AMOXIL", "372687004"),
    ("AMOXY", "Amoxycilin", "drug", "", ""),
    ("AMP", "Ampicillin", "drug", "", "387170002"),
    ("CEPH", "Cephalexin", "drug", "KEFLEX|CEFALEXIN", "387304003"),
    ("CEFD", "Cefdinir", "drug", "OMNICEF", "108677001"),
    ("CEPHS", "Cephalosporins", "drug", "", ""),
    ("SULFA", "Sulfa drugs", "drug", "SULFONAMIDES|SULFA", "763875007"),
    ("SMXTMP", "Sulfamethoxazole/trimethoprim", "drug", "BACTRIM|SEPTRA|CO-TRIMOXAZOLE|SMX-TMP", ""),
    ("CODE", "Codeine", "drug", "CODEINE PHOSPHATE", ""),
    ("MORPH", "Morphine", "drug", "MORPHINE SULFATE|MS CONTIN", "373529000"),
    ("ASA", "Aspirin", "drug", "ACETYLSALICYLIC ACID|ASA", "387458008"),
    ("IBU", "Ibuprofen", "drug", "ADVIL|MOTRIN", "387207008"),
    ("IBUF", "Ibuprofin", "drug", "", ""),
    ("NAP", "Naproxen", "drug", "ALEVE|NAPROSYN", "372588000"),
    ("NSAID", "NSAIDs", "drug", "NON-STEROIDAL ANTI-INFLAMMATORY DRUGS", ""),
    ("APAP", "Acetaminophen", "drug", "TYLENOL|PARACETAMOL|APAP", "387517004"),
    ("LIS", "Lisinopril", "drug", "ZESTRIL|PRINIVIL", "386873009"),
    ("ACEI", "ACE inhibitors", "drug", "", ""),
    ("CONTR", "Iodinated contrast media", "drug", "IV CONTRAST|X-RAY DYE|CT CONTRAST", "385420005"),
    ("LATEX", "Latex", "environment", "RUBBER|NATURAL RUBBER LATEX", "111088007"),
    ("PNT", "Peanut", "food", "PEANUTS|GROUNDNUT", "762952008"),
    ("TNUT", "Tree nuts", "food", "WALNUT|CASHEW|ALMOND|PECAN", "442571000124108"),
    ("SHELL", "Shellfish", "food", "SHRIMP|CRAB|LOBSTER", "735029006"),
    ("FISH", "Fish", "food", "", "735971005"),
    ("EGG", "Egg", "food", "EGGS", "102263004"),
    ("MILK", "Milk", "food", "COW'S MILK|COWS MILK", "3718001"),
    ("DAIRY", "Dairy products", "food", "DAIRY", "226760005"),
    ("SOY", "Soy", "food", "SOYA|SOYBEAN", "256355007"),
    ("WHEAT", "Wheat", "food", "", "412071004"),
    ("STRAW", "Strawberries", "food", "STRAWBERRY", ""),
    ("BEE", "Bee venom", "environment", "BEE STING|HONEYBEE", "288328004"),
    ("DMITE", "House dust mite", "environment", "DUST MITES|DUST MITE", "260147004"),
    ("MOLD", "Mould", "environment", "MOLD|MILDEW", "84489001"),
    ("CAT", "Cat dander", "environment", "CAT HAIR|CATS", ""),
    ("DANDR", "Animal dander", "environment", "PET DANDER", "264287008"),
    ("GRASS", "Grass pollen", "environment", "", "256277009"),
    ("TREEP", "Tree pollen", "environment", "", "782576004"),
    ("TAPE", "Adhesive tape", "other", "ADHESIVE|ELASTOPLAST", ""),
    ("NKA", "No Known Allergies", "other", "NKA|NO KNOWN ALLERGY", "716186003"),
    ("NKDA", "No Known Drug Allergies", "other", "NKDA|NKMA", "409137002"),
    ("NKFA", "No Known Food Allergies", "other", "NKFA", "429625007"),
    ("NKLA", "No Known Latex Allergy", "other", "NKLA", "716184000"),
]

FORMULARY = [
    # (code, name, category, synonyms, rxnorm)
    ("100101", "PENICILLIN VK 250MG TAB", "antibiotic", "PEN VK 250", "834061"),
    ("100102", "PENICILLIN VK 500MG TAB", "antibiotic", "PEN VK 500", "834102"),
    ("100110", "PFIZERPEN 1MU/ML INJ", "antibiotic", "PENICILLIN G POTASSIUM 1MU/ML", "995906"),
    ("100111", "PENICILLIN G K 1MU/ML INJ", "antibiotic", "", "863538"),
    ("100120", "BICILLIN L-A 1.2MU/2ML SYR", "antibiotic", "PEN G BENZATHINE 1.2MU", "731568"),
    ("100130", "AMOX 500MG TAB", "antibiotic", "AMOXICILLIN 500MG TAB", "308192"),
    ("100131", "AMOX 500MG CAP", "antibiotic", "AMOXICILLIN 500MG CAP", ""),
    ("100132", "AMOX-CLAV 250-125MG TAB", "antibiotic", "AUGMENTIN 250", "562251"),
    ("100140", "CEPHALEXIN 500MG CAP", "antibiotic", "KEFLEX 500", ""),
    ("100150", "SMX-TMP DS 800-160MG TAB", "antibiotic", "BACTRIM DS", ""),
    ("200201", "ASPIRIN 81MG TAB", "analgesic", "ASA 81", "243670"),
    ("200210", "IBUPROFEN 100MG TAB", "analgesic", "", "198405"),
    ("200211", "IBUPROFEN 200MG TAB", "analgesic", "MOTRIN 200|ADVIL 200", "310965"),
    ("200220", "NAPROXEN NA 220MG TAB", "analgesic", "ALEVE", "849574"),
    ("200230", "ACETAMINOPHEN 325MG TAB", "analgesic", "APAP 325", "313782"),
    ("200231", "TYLENOL 325MG TAB", "analgesic", "", "209387"),
    ("200240", "CODEINE SULF 30MG TAB", "analgesic", "", ""),
    ("300301", "LISINOPRIL 10MG TAB", "cardiovascular", "ZESTRIL 10", "314076"),
]

ALLERGENS_COLUMNS = """\
# Column map of allergens.csv for `termmap load local` (see loaders/local_table.py, ColumnMap).
code: code
display: name
kind: type
synonyms: synonyms
synonym_separator: "|"
target_system_fixed: "http://snomed.info/sct"
target_code: snomed
"""

FORMULARY_COLUMNS = """\
# Column map of pharmacy_formulary.csv for `termmap load local` (see loaders/local_table.py, ColumnMap).
code: code
display: name
kind: category
synonyms: synonyms
synonym_separator: "|"
target_system_fixed: "http://www.nlm.nih.gov/research/umls/rxnorm"
target_code: rxnorm
"""

# ---------------------------------------------------------------------------------------------
# RF2 and RRF layouts
# ---------------------------------------------------------------------------------------------
CONCEPT_HEADER = ("id", "effectiveTime", "active", "moduleId", "definitionStatusId")
DESCRIPTION_HEADER = ("id", "effectiveTime", "active", "moduleId", "conceptId", "languageCode", "typeId", "term",
                      "caseSignificanceId")
RELATIONSHIP_HEADER = ("id", "effectiveTime", "active", "moduleId", "sourceId", "destinationId", "relationshipGroup",
                       "typeId", "characteristicTypeId", "modifierId")
LANGUAGE_HEADER = ("id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId", "acceptabilityId")
ASSOCIATION_HEADER = ("id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId",
                      "targetComponentId")

RF2_FILES = {
    "concept": (f"{SNOMED_DIR}/Terminology/sct2_Concept_Snapshot_INT_{RELEASE_DATE}.txt", CONCEPT_HEADER),
    "description": (f"{SNOMED_DIR}/Terminology/sct2_Description_Snapshot-en_INT_{RELEASE_DATE}.txt", DESCRIPTION_HEADER),
    "relationship": (f"{SNOMED_DIR}/Terminology/sct2_Relationship_Snapshot_INT_{RELEASE_DATE}.txt", RELATIONSHIP_HEADER),
    "language": (f"{SNOMED_DIR}/Refset/Language/der2_cRefset_LanguageSnapshot-en_INT_{RELEASE_DATE}.txt", LANGUAGE_HEADER),
    "association": (f"{SNOMED_DIR}/Refset/Content/der2_cRefset_AssociationSnapshot_INT_{RELEASE_DATE}.txt",
                    ASSOCIATION_HEADER),
}

RRF_COLUMNS = {  # number of fields per row (each row also ends with "|")
    "RXNCONSO.RRF": 18,  # RXCUI|LAT|TS|LUI|STT|SUI|ISPREF|RXAUI|SAUI|SCUI|SDUI|SAB|TTY|CODE|STR|SRL|SUPPRESS|CVF
    "RXNREL.RRF": 16,  # RXCUI1|RXAUI1|STYPE1|REL|RXCUI2|RXAUI2|STYPE2|RELA|RUI|SRUI|SAB|SL|RG|DIR|SUPPRESS|CVF
    "RXNSAT.RRF": 13,  # RXCUI|LUI|SUI|RXAUI|STYPE|CODE|ATUI|SATUI|ATN|SAB|ATV|SUPPRESS|CVF
    "RXNCUI.RRF": 5,  # cui1|ver_start|ver_end|cardinality|cui2
}
PRESCRIBABLE = "4096"  # CVF of RxNorm's Current Prescribable Content


# ---------------------------------------------------------------------------------------------
# Generated identifiers
# ---------------------------------------------------------------------------------------------
_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P1 = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)  # the permutation; row i of the table is its i-th power
_VERHOEFF_P = [tuple(range(10))]
for _ in range(7):
    _VERHOEFF_P.append(tuple(_VERHOEFF_P1[digit] for digit in _VERHOEFF_P[-1]))
_VERHOEFF_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def verhoeff_check_digit(digits: str) -> str:
    """The Verhoeff check digit SNOMED CT appends to an SCTID's other digits."""
    check = 0
    for position, digit in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[(position + 1) % 8][int(digit)]]
    return str(_VERHOEFF_INV[check])


def is_valid_sctid(sctid: str) -> bool:
    """True when `sctid` is 6-18 digits and its last digit is the Verhoeff check of the rest."""
    return sctid.isdigit() and 6 <= len(sctid) <= 18 and verhoeff_check_digit(sctid[:-1]) == sctid[-1]


def _number(key: str, low: int, span: int) -> int:
    return low + uuid.uuid5(DEMO_NAMESPACE, key).int % span


def generated_sctid(key: str, partition: str) -> str:
    """A deterministic short-format SCTID: item id 800000000-899999999, `partition` ("01" description,
    "02" relationship), Verhoeff check digit. International item ids are far below this range."""
    body = f"{_number(key, 800_000_000, 100_000_000)}{partition}"
    return body + verhoeff_check_digit(body)


def member_uuid(key: str) -> str:
    """A deterministic refset member id (uuid5 in the demo namespace)."""
    return str(uuid.uuid5(DEMO_NAMESPACE, key))


def _unique(ids: Sequence[str], what: str) -> None:
    if len(set(ids)) != len(ids):
        raise SystemExit(f"generated {what} ids collide; change DEMO_NAMESPACE")


# ---------------------------------------------------------------------------------------------
# SNOMED CT rows
# ---------------------------------------------------------------------------------------------
def active_concepts() -> list[Sct]:
    """Every active SNOMED CT concept of the demo."""
    return (TOP_CONCEPTS + ALLERGY_CONCEPTS + NEGATION_CONCEPTS + SUBSTANCE_CONCEPTS + PRODUCT_CONCEPTS
            + METADATA_CONCEPTS)


def _sorted_by_id(rows: Iterable[tuple[str, ...]]) -> list[tuple[str, ...]]:
    return sorted(rows, key=lambda row: (int(row[0]) if row[0].isdigit() else row[0], row))


def concept_rows() -> list[tuple[str, ...]]:
    rows = [(c.id, RELEASE_DATE, "1", c.module, DEFINED if c.defined else PRIMITIVE) for c in active_concepts()]
    rows += [(r.id, r.effective_time, "0", CORE_MODULE, PRIMITIVE) for r in INACTIVE_CONCEPTS]
    return _sorted_by_id(rows)


@dataclass(frozen=True)
class _Description:
    id: str
    concept: str
    module: str
    type: str
    term: str
    case: str
    acceptability: str
    effective_time: str


def descriptions() -> list[_Description]:
    """FSN, preferred synonym and acceptable synonyms of every concept (active and inactive)."""
    out = []
    terms = [(c.id, c.module, c.case, RELEASE_DATE, c.fsn, c.pt, c.synonyms) for c in active_concepts()]
    terms += [(r.id, CORE_MODULE, IC, r.effective_time, r.fsn, r.pt, r.synonyms) for r in INACTIVE_CONCEPTS]
    for concept, module, case, effective, fsn, pt, synonyms in terms:
        for type_, term, acceptability in [(FSN, fsn, PREFERRED), (SYNONYM, pt, PREFERRED),
                                           *((SYNONYM, s, ACCEPTABLE) for s in synonyms)]:
            real = REAL_DESCRIPTION_IDS.get((concept, term))
            description_id = real or generated_sctid(f"description:{concept}:{type_}:{term}", "01")
            # A description carries its concept's effectiveTime: the release date, or an inactive concept's own.
            out.append(_Description(description_id, concept, module, type_, term, case, acceptability, effective))
    _unique([d.id for d in out], "description")
    return sorted(out, key=lambda d: (int(d.concept), d.type != FSN, d.acceptability != PREFERRED, d.term))


def description_rows(items: list[_Description]) -> list[tuple[str, ...]]:
    return [(d.id, d.effective_time, "1", d.module, d.concept, "en", d.type, d.term, d.case) for d in items]


def language_rows(items: list[_Description]) -> list[tuple[str, ...]]:
    return [(member_uuid(f"language:{US_ENGLISH}:{d.id}"), d.effective_time, "1", d.module, US_ENGLISH, d.id,
             d.acceptability) for d in items]


def relationship_rows() -> list[tuple[str, ...]]:
    module_of = {c.id: c.module for c in active_concepts()}
    rows = []
    for child, parent, _basis in IS_A_ROWS:
        rows.append((child, IS_A, parent, "0"))
    for source, type_, destination, group, _basis in ATTRIBUTE_ROWS:
        rows.append((source, type_, destination, group))
    out = [(generated_sctid(f"relationship:{s}:{t}:{d}:{g}", "02"), RELEASE_DATE, "1", module_of[s], s, d, g, t,
            INFERRED, SOME) for s, t, d, g in rows]
    _unique([r[0] for r in out], "relationship")
    return sorted(out, key=lambda r: (int(r[4]), r[7] != IS_A, int(r[5])))


def association_rows() -> list[tuple[str, ...]]:
    return sorted((uid, date, "1", CORE_MODULE, refset, source, target)
                  for uid, date, refset, source, target in ASSOCIATIONS)


# ---------------------------------------------------------------------------------------------
# RxNorm rows
# ---------------------------------------------------------------------------------------------
def _rxaui(key: str) -> str:
    return str(_number(f"rxaui:{key}", 90_000_000, 10_000_000))


def rxnconso_rows() -> list[tuple[str, ...]]:
    rows = []
    for c in RXNORM_CONCEPTS:
        aui = _rxaui(f"RXNORM:{c.rxcui}:{c.tty}")
        rows.append((c.rxcui, "ENG", "", "", "", "", "", aui, aui, c.rxcui, "", "RXNORM", c.tty, c.rxcui, c.name,
                     "", "N", PRESCRIBABLE))
    for rxcui, sctid, term in RXNORM_SNOMED_ATOMS:
        aui = _rxaui(f"SNOMEDCT_US:{rxcui}:{sctid}")
        rows.append((rxcui, "ENG", "", "", "", "", "", aui, "", sctid, "", "SNOMEDCT_US", "PT", sctid, term,
                     "", "N", ""))
    _unique([r[7] for r in rows], "RXAUI")
    return sorted(rows, key=lambda r: (int(r[0]), r[11] != "RXNORM", r[12], r[14]))


def rxnrel_rows() -> list[tuple[str, ...]]:
    rows = []
    for second, rela, first in RXNORM_RELATIONS:
        for cui1, relation, cui2 in ((first, rela, second), (second, INVERSE[rela], first)):
            rui = str(_number(f"rui:{cui1}:{relation}:{cui2}", 900_000_000, 100_000_000))
            rows.append((cui1, "", "CUI", "RO", cui2, "", "CUI", relation, rui, "", "RXNORM", "RXNORM", "", "", "N",
                         PRESCRIBABLE))
    _unique([r[8] for r in rows], "RUI")
    return sorted(rows, key=lambda r: (int(r[0]), int(r[4]), r[7]))


def rxnsat_rows() -> list[tuple[str, ...]]:
    tty_of = {c.rxcui: c.tty for c in RXNORM_CONCEPTS}
    rows = []
    for rxcui, ndcs in RXNORM_NDCS.items():
        aui = _rxaui(f"RXNORM:{rxcui}:{tty_of[rxcui]}")
        for ndc in ndcs:
            atui = "AT" + str(_number(f"atui:{rxcui}:{ndc}", 100_000_000, 900_000_000))
            rows.append((rxcui, "", "", aui, "AUI", rxcui, atui, "", "NDC", "RXNORM", ndc, "N", PRESCRIBABLE))
    _unique([r[6] for r in rows], "ATUI")
    return sorted(rows, key=lambda r: (int(r[0]), r[10]))


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------
def _write(path: Path, text: str, newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))


def write_rf2(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """An RF2 file: tab-separated, header row, CRLF line ends, UTF-8 without BOM."""
    lines = ["\t".join(header)] + ["\t".join(row) for row in rows]
    _write(path, "\n".join(lines) + "\n", newline="\r\n")


def write_rrf(path: Path, rows: Iterable[Sequence[str]]) -> None:
    """An RRF file: pipe-delimited, a trailing `|` on every row, no header, LF line ends."""
    _write(path, "".join("|".join(row) + "|\n" for row in rows))


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    _write(path, buffer.getvalue())


def write_snomed(out: Path) -> dict[str, int]:
    items = descriptions()
    tables = {
        "concept": concept_rows(),
        "description": description_rows(items),
        "relationship": relationship_rows(),
        "language": language_rows(items),
        "association": association_rows(),
    }
    for role, rows in tables.items():
        name, header = RF2_FILES[role]
        write_rf2(out / name, header, rows)
    return {role: len(rows) for role, rows in tables.items()}


def write_rxnorm(out: Path) -> dict[str, int]:
    tables = {
        "RXNCONSO.RRF": rxnconso_rows(),
        "RXNREL.RRF": rxnrel_rows(),
        "RXNSAT.RRF": rxnsat_rows(),
        "RXNCUI.RRF": sorted(RXNCUI_ROWS, key=lambda r: int(r[0])),
    }
    for name, rows in tables.items():
        write_rrf(out / RXNORM_DIR / "rrf" / name, rows)
    _write(out / RXNORM_DIR / f"Readme_Demo_{RXNORM_DATE}.txt", RXNORM_README.format(
        date=RXNORM_DATE, **{name.split(".")[0].lower(): len(rows) for name, rows in tables.items()}))
    return {name: len(rows) for name, rows in tables.items()}


def write_local(out: Path) -> None:
    write_csv(out / "local" / "allergens.csv", ("code", "name", "type", "synonyms", "snomed"), ALLERGENS)
    _write(out / "local" / "allergens.columns.yaml", ALLERGENS_COLUMNS)
    write_csv(out / "local" / "pharmacy_formulary.csv", ("code", "name", "category", "synonyms", "rxnorm"), FORMULARY)
    _write(out / "local" / "pharmacy_formulary.columns.yaml", FORMULARY_COLUMNS)


RXNORM_README = """\
RxNorm demo release {date} (termmap demo set)

Not an NLM release. A few real RxNorm concepts in the RRF layout of a monthly RxNorm release, made
by termmap's scripts/make_demo_data.py for demonstrations and tests; see demo/README.md for where
each RXCUI and NDC was checked.

rrf/RXNCONSO.RRF  {rxnconso} atoms: SAB=RXNORM (IN, PIN, MIN, SCDC, SCD, SBD, BN) and SNOMEDCT_US (PT)
rrf/RXNREL.RRF    {rxnrel} relationships (has_ingredient/ingredient_of, consists_of/constitutes, ...)
rrf/RXNSAT.RRF    {rxnsat} attributes (ATN=NDC, SAB=RXNORM)
rrf/RXNCUI.RRF    {rxncui} retired-RXCUI rows, copied from a real RxNorm subset

Generated, not NLM's: RXAUI, SAUI (= RXAUI for RXNORM atoms), RUI, ATUI. Empty as in NLM's files:
TS, LUI, STT, SUI, ISPREF, SDUI, SRL. REL is RO on every RXNREL row; termmap reads RELA only.

RxNorm content is produced by the U.S. National Library of Medicine; SAB=RXNORM content is free to
use. The SNOMEDCT_US atoms carry SNOMED CT content (see demo/README.md for its licence).
"""


# ---------------------------------------------------------------------------------------------
# demo/README.md
# ---------------------------------------------------------------------------------------------
DROPPED = [
    ("SNOMED CT", "Sulfonamide, codeine, cat dander, penicillin (764146007) substances", "no shared file or citable source gives their id and FSN"),
    ("SNOMED CT", "890458001 Product containing penicillin", "named only in application code and design notes, in no IG or shared file; public examples also use 764146007 for penicillin"),
    ("SNOMED CT", "300916003 Latex allergy, 232347008 Dander (animal) allergy, 426722004 (VistA iodine contrast)", "FSN not in any shared file (likely inactive now); 1003755004 and 717234006 cover latex and animal allergy"),
    ("SNOMED CT", "Parents of the 'No known ...' situations under 716186003", "not in a shared relationship file; they hang under 243796009 Situation with explicit context"),
    ("SNOMED CT", "160244002 No known allergies (CIEL's NKA mapping)", "no source states its status or its replacement"),
    ("RxNorm", "723 amoxicillin, 733 ampicillin", "not in RXNSTY.RRF, P.json or the Synthea files"),
    ("RxNorm", "SCDC/BN of the Synthea clinical drugs (amoxicillin, aspirin, ibuprofen, acetaminophen, lisinopril ...)", "their RXCUIs are in no shared file; those SCDs are not linked to an ingredient"),
    ("RxNorm", "10180 / 10207 as parts of 10831", "RXNSTY has the RXCUIs but no names"),
    ("RxNorm", "SNOMEDCT_US atoms for acetaminophen, cephalexin, penicillin G/V", "the two sources name the substance differently (paracetamol, cefalexin, benzyl-/phenoxymethylpenicillin)"),
    ("RxNorm", "NDCs of non-penicillin drugs", "only P.json holds real RxNorm NDCs"),
]

README_TEMPLATE = """\
# demo/ — termmap's own demo set, in the real release formats

Made by `scripts/make_demo_data.py` (`python scripts/make_demo_data.py --out demo`); do not edit by
hand. The script holds every code as data, with the place it was checked beside it, and writes the
same bytes on every run (`tests/test_demo_data.py` checks both). `termmap demo` loads all of it.

| path | what | rows |
|---|---|---|
| `snomed/SnomedCT_DemoRF2_{release}/Snapshot/Terminology/sct2_Concept_Snapshot_INT_{release}.txt` | concepts ({active} active, {inactive} inactive) | {concept} |
| `.../Terminology/sct2_Description_Snapshot-en_INT_{release}.txt` | FSN + preferred synonym + acceptable synonyms | {description} |
| `.../Terminology/sct2_Relationship_Snapshot_INT_{release}.txt` | inferred is-a ({isa}) and attribute ({attributes}) rows | {relationship} |
| `.../Refset/Language/der2_cRefset_LanguageSnapshot-en_INT_{release}.txt` | en-US (900000000000509007) acceptability of every description | {language} |
| `.../Refset/Content/der2_cRefset_AssociationSnapshot_INT_{release}.txt` | historical associations (SAME AS, REPLACED BY, POSSIBLY EQUIVALENT TO) | {association} |
| `rxnorm/RxNorm_demo_{rxdate}/rrf/RXNCONSO.RRF` | {rxconcepts} RxNorm concepts ({rxtty}) + {snomedatoms} SNOMEDCT_US atoms | {rxnconso} |
| `rxnorm/RxNorm_demo_{rxdate}/rrf/RXNREL.RRF` | relationships, each with its inverse row | {rxnrel} |
| `rxnorm/RxNorm_demo_{rxdate}/rrf/RXNSAT.RRF` | NDCs (ATN=NDC, SAB=RXNORM, 11 digits) | {rxnsat} |
| `rxnorm/RxNorm_demo_{rxdate}/rrf/RXNCUI.RRF` | retired RXCUIs -> current (real rows) | {rxncui} |
| `rxnorm/RxNorm_demo_{rxdate}/Readme_Demo_{rxdate}.txt` | the release readme (gives the version) | |
| `local/allergens.csv` + `allergens.columns.yaml` | a hospital allergen list; `snomed` filled where a demo code fits | {allergens} |
| `local/pharmacy_formulary.csv` + `pharmacy_formulary.columns.yaml` | a pharmacy formulary; `rxnorm` filled where a demo code fits | {formulary} |

Formats: RF2 files are tab-separated with the exact RF2 header, CRLF line ends, UTF-8; RRF files are
pipe-delimited with a trailing `|`, no header, LF. Load them with
`termmap load snomed demo/snomed`, `termmap load rxnorm demo/rxnorm/RxNorm_demo_{rxdate}` and
`termmap load local demo/local/allergens.csv --system https://demo-hospital.example.org/fhir/CodeSystem/allergens --columns demo/local/allergens.columns.yaml`.

## What is real and what is generated

**Real** (checked, see below): every SNOMED CT concept id and term, every RXCUI, TTY, name and NDC,
the historical association rows (copied whole: ids, dates, targets), the RXNCUI rows, and the
description ids of terms copied from shared RF2 files ({realdesc} of {description}).

**Generated, deterministically** (uuid5 in one namespace, `DEMO_NAMESPACE` in the script):
SNOMED description ids of the other terms and every relationship id — short-format SCTIDs whose
item id is 800000000-899999999 (no International release comes near it), partition 01/02 and a
valid Verhoeff check digit; language refset member UUIDs; RxNorm RXAUI, RUI and ATUI. Also chosen
rather than copied: effectiveTime {release} on every active component (inactive concepts and
association rows keep their real dates), definition status (defined only where a shared file says
so), case significance per concept, REL=RO in RXNREL, CVF=4096 on RXNORM rows.

**A sub-ontology, not a release.** Each is-a row links a concept to its nearest ancestor *in this
set*, as SNOMED's sub-ontology extracts do. The basis of every row is in the script (`IS_A_ROWS`):
{basis_counts}. "meaning" rows ({meaning}) are not in any shared relationship file: an allergy to a
drug is filed under Drug allergy, to a food under Allergy to food, other allergies under Allergic
disposition; real releases agree by subsumption, though their proximal parents are concepts left out.
Terms come from the newest source that has them, so a few FSNs still carry the 2014/2015 semantic
tag "(disorder)" where the current release says "(finding)".

**Edition.** The files are named INT but hold one US-extension concept (442571000124108 Tree nut,
module 731000124108), as a US Edition snapshot would.

## Where each code was checked

`shared:` sources are files in `../shared/data` (their own READMEs name the upstream repositories);
`tests/test_demo_data.py` checks every demo id against them when they are present. The others are
public repositories, cited by path; the ids checked only there are listed in the script
(`verified_outside_shared()`) and in the table below.

| key | source |
|---|---|
{sources}

SNOMED CT ids not in any shared RF2 file, and where they were checked instead:

| id | term | checked in |
|---|---|---|
{outside}

## Left out (could not be verified)

| system | what | why |
|---|---|---|
{dropped}

## Licences

SNOMED CT content (concept ids, terms, relationships, the SNOMEDCT_US atoms) is © SNOMED
International, used here under the SNOMED CT Affiliate Licence for demonstration and testing only;
use it only if you or your organisation hold a licence (free in SNOMED International member
countries). RxNorm (SAB=RXNORM) content is produced by the U.S. National Library of Medicine and is
free to use. The local tables are invented. See `../data_sources.md` for the full releases.
"""


def verified_outside_shared() -> dict[str, str]:
    """SNOMED CT ids of the demo found in no shared RF2 Concept file, with the sources that name them."""
    return {c.id: c.src for c in active_concepts() if not any(k.startswith(("tx2025", "wci-")) for k in _keys(c.src))}


def _keys(src: str) -> list[str]:
    return [part.strip().split(" ")[0] for part in src.split(";")]


def write_readme(out: Path, snomed: dict[str, int], rxnorm: dict[str, int]) -> None:
    basis: dict[str, int] = {}
    for _child, _parent, why in IS_A_ROWS:
        basis[why] = basis.get(why, 0) + 1
    ttys: dict[str, int] = {}
    for c in RXNORM_CONCEPTS:
        ttys[c.tty] = ttys.get(c.tty, 0) + 1
    terms = {c.id: c.pt for c in active_concepts()}
    text = README_TEMPLATE.format(
        release=RELEASE_DATE, rxdate=RXNORM_DATE,
        active=len(active_concepts()), inactive=len(INACTIVE_CONCEPTS),
        isa=len(IS_A_ROWS), attributes=len(ATTRIBUTE_ROWS),
        rxconcepts=len(RXNORM_CONCEPTS), rxtty=", ".join(f"{n} {t}" for t, n in sorted(ttys.items())),
        snomedatoms=len(RXNORM_SNOMED_ATOMS),
        rxnconso=rxnorm["RXNCONSO.RRF"], rxnrel=rxnorm["RXNREL.RRF"], rxnsat=rxnorm["RXNSAT.RRF"],
        rxncui=rxnorm["RXNCUI.RRF"], allergens=len(ALLERGENS), formulary=len(FORMULARY),
        realdesc=sum(1 for d in descriptions() if (d.concept, d.term) in REAL_DESCRIPTION_IDS),
        basis_counts=", ".join(f"{why} {n}" for why, n in sorted(basis.items())), meaning=basis.get("meaning", 0),
        sources="\n".join(f"| `{key}` | {text} |" for key, text in SOURCES.items()),
        outside="\n".join(f"| {code} | {terms[code]} | {src} |" for code, src in sorted(
            verified_outside_shared().items(), key=lambda item: int(item[0]))),
        dropped="\n".join(f"| {system} | {what} | {why} |" for system, what, why in DROPPED),
        **snomed,
    )
    _write(out / "README.md", text)


def generate(out: Path) -> None:
    """Write the whole demo set under `out`, replacing what the script wrote there before."""
    for part in ("snomed", "rxnorm", "local"):
        shutil.rmtree(out / part, ignore_errors=True)
    snomed = write_snomed(out)
    rxnorm = write_rxnorm(out)
    write_local(out)
    write_readme(out, snomed, rxnorm)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "demo",
                        help="folder to write (default: the project's demo/)")
    args = parser.parse_args(argv)
    generate(args.out)
    print(f"demo set written to {args.out}")


if __name__ == "__main__":
    main()
