"""Character sets: names stored in Latin-1, Cyrillic, Greek, Hebrew, Arabic, Japanese (ISO 2022),
Korean (ISO 2022) and UTF-8 are found by queries in UTF-8 and in the data's own character set, and
responses declare (0008,0005) so that the name decodes correctly."""

import shutil
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ossa_harness as h  # noqa: E402

ESC = b"\x1b"

# (key, SpecificCharacterSet, PatientName bytes as stored, the name in Unicode, UTF-8 wildcard
# queries that must match). The ISO 2022 values follow the examples of PS3.5 Annex H and I.
CASES = [
    ("latin1", "ISO_IR 100", "Buc^Jérôme".encode("latin-1"), "Buc^Jérôme",
     ["Buc^Jé*", "Buc^J?r?me", "*rôme"]),
    ("cyrillic", "ISO_IR 144", "Иванов^Иван".encode("iso8859_5"), "Иванов^Иван",
     ["Иванов*", "Ив?нов^*"]),
    ("greek", "ISO_IR 126", "Διονυσιος".encode("iso8859_7"), "Διονυσιος", ["Διον*"]),
    ("hebrew", "ISO_IR 138", "שרון^דבורה".encode("iso8859_8"), "שרון^דבורה", ["שרון*"]),
    ("arabic", "ISO_IR 127", "قباني^لنزار".encode("iso8859_6"), "قباني^لنزار", ["قباني*"]),
    ("japanese-ir6-ir87", ["ISO 2022 IR 6", "ISO 2022 IR 87"],
     b"Yamada^Tarou=" + ESC + b"$B;3ED" + ESC + b"(B^" + ESC + b"$BB@O:" + ESC + b"(B="
     + ESC + b"$B$d$^$@" + ESC + b"(B^" + ESC + b"$B$?$m$&" + ESC + b"(B",
     "Yamada^Tarou=山田^太郎=やまだ^たろう", []),
    ("japanese-ir13-ir87", ["ISO 2022 IR 13", "ISO 2022 IR 87"],
     b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3=" + ESC + b"$B;3ED" + ESC + b"(J^" + ESC + b"$BB@O:"
     + ESC + b"(J=" + ESC + b"$B$d$^$@" + ESC + b"(J^" + ESC + b"$B$?$m$&" + ESC + b"(J",
     "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう", []),
    ("korean", ["", "ISO 2022 IR 149"],
     b"Hong^Gildong=" + ESC + b"$)C\xfb\xf3^" + ESC + b"$)C\xd1\xce\xd4\xd7=" + ESC
     + b"$)C\xc8\xab^" + ESC + b"$)C\xb1\xe6\xb5\xbf",
     "Hong^Gildong=洪^吉洞=홍^길동", []),
    ("japanese-empty-ir87", ["", "ISO 2022 IR 87"],
     b"Tanaka^Hanako=" + ESC + b"$BEDCf" + ESC + b"(B^" + ESC + b"$B2V;R" + ESC + b"(B="
     + ESC + b"$B$?$J$+" + ESC + b"(B^" + ESC + b"$B$O$J$3" + ESC + b"(B",
     "Tanaka^Hanako=田中^花子=たなか^はなこ", []),
    ("utf8", "ISO_IR 192", "Wang^XiaoDong=王^小東".encode("utf-8"), "Wang^XiaoDong=王^小東",
     ["Wang^XiaoDong=王*"]),
]

# StudyDescription (LO, not PN: no reset at '^' or '=') in each set: raw bytes, decoded text.
DESCRIPTIONS = {
    "latin1": ("Épaule gauche".encode("latin-1"), "Épaule gauche"),
    "cyrillic": ("Грудная клетка".encode("iso8859_5"), "Грудная клетка"),
    "greek": ("Θώρακας".encode("iso8859_7"), "Θώρακας"),
    "hebrew": ("חזה".encode("iso8859_8"), "חזה"),
    "arabic": ("صدر".encode("iso8859_6"), "صدر"),
    "japanese-ir6-ir87": (b"CT " + ESC + b"$B6;It" + ESC + b"(B", "CT 胸部"),
    "japanese-ir13-ir87": (b"CT " + ESC + b"$BJ\"It" + ESC + b"(J", "CT 腹部"),
    "japanese-empty-ir87": (b"CT " + ESC + b"$BF,It" + ESC + b"(B", "CT 頭部"),
    "korean": (b"CT " + ESC + b"$)C\xc8\xe4\xba\xce", "CT 흉부"),
    "utf8": ("CT 胸部 ✓".encode("utf-8"), "CT 胸部 ✓"),
}


def charset_value(cs):
    return cs if isinstance(cs, str) else "\\".join(cs)


class CharsetTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        h.require_ossa_bin()
        cls.tmp = Path(tempfile.mkdtemp(prefix="ossa-it-charset-"))
        cls.srv = h.OssaServer(cls.tmp / "srv")
        cls.srv.start()
        files = []
        cls.study = {}
        for key, cs, raw, _name, _wild in CASES:
            ds = h.make_dataset(patient_id="CS-" + key, patient_name="X", charset=cs,
                                StudyDescription="x")
            del ds.PatientName
            ds.add_new(0x00100010, "PN", raw)
            del ds.StudyDescription
            ds.add_new(0x00081030, "LO", DESCRIPTIONS[key][0])
            cls.study[key] = str(ds.StudyInstanceUID)
            files.append(h.write_part10(ds, cls.tmp / ("%s.dcm" % key)))
        # an unknown character set must not make the server refuse the instance
        ds = h.make_dataset(patient_id="CS-unknown", patient_name="X", charset="ISO_IR 999")
        del ds.PatientName
        ds.add_new(0x00100010, "PN", b"Name^With\xe9\xff")
        cls.unknown_file = h.write_part10(ds, cls.tmp / "unknown.dcm")
        cls.unknown_sop = str(ds.SOPInstanceUID)
        files.append(cls.unknown_file)
        cls.store = cls.srv.store(files, options=["-R", "-nh"])
        cls.files = files

    @classmethod
    def tearDownClass(cls):
        if cls.srv.running():
            cls.srv.kill()
        if h.os.environ.get("OSSA_KEEP_TMP"):
            print("kept %s" % cls.tmp, file=sys.stderr)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        bad = [f for f in self.files[:-1] if self.store.code(f) != 0]
        if bad:
            self.fail("storing the charset datasets failed for %s:\n%s" % (
                bad, self.store.output[-2000:]))

    def find(self, keys, level="STUDY", model="S"):
        return self.srv.find(keys + [("PatientID", None)] if not any(k == "PatientID" for k, _ in keys)
                             else keys, level=level, model=model, workdir=self.tmp)

    def check_one(self, r, key, name, what):
        self.assertEqual(r.final_status, 0, "%s: final status %r\n%s" % (what, r.final_text,
                                                                         r.output[-1500:]))
        ids = [str(d.get("PatientID", "")) for d in r.datasets]
        self.assertEqual(ids, ["CS-" + key], "%s: matches %r" % (what, ids))
        d = r.datasets[0]
        self.assertIn("SpecificCharacterSet", d, "%s: response without (0008,0005)" % what)
        self.assertEqual(str(d.PatientName), name, "%s: decoded PatientName (response charset %r)"
                         % (what, d.get("SpecificCharacterSet")))

    # ---------------------------------------------------------------------------------------------
    def test_response_by_patient_id(self):
        for key, _cs, _raw, name, _w in CASES:
            with self.subTest(key):
                r = self.find([("PatientID", "CS-" + key), ("PatientName", None)])
                self.check_one(r, key, name, "by PatientID")
                r = self.find([("PatientID", "CS-" + key), ("PatientName", None)],
                              level="PATIENT", model="P")
                self.check_one(r, key, name, "PATIENT level by PatientID")

    def test_other_text_attributes(self):
        for key, _cs, _raw, name, _w in CASES:
            with self.subTest(key):
                r = self.find([("PatientID", "CS-" + key), ("PatientName", None),
                               ("StudyDescription", None)])
                self.check_one(r, key, name, "by PatientID")
                self.assertEqual(str(r.datasets[0].StudyDescription), DESCRIPTIONS[key][1])
                want = DESCRIPTIONS[key][1]
                r = self.find([("SpecificCharacterSet", "ISO_IR 192"),
                               ("StudyDescription", want.encode("utf-8")), ("PatientName", None)])
                self.check_one(r, key, name, "StudyDescription in UTF-8")

    def test_query_in_utf8(self):
        for key, _cs, _raw, name, _w in CASES:
            with self.subTest(key):
                r = self.find([("SpecificCharacterSet", "ISO_IR 192"),
                               ("PatientName", name.encode("utf-8"))])
                self.check_one(r, key, name, "UTF-8 query")
                r = self.find([("SpecificCharacterSet", "ISO_IR 192"),
                               ("PatientName", name.encode("utf-8"))],
                              level="PATIENT", model="P")
                self.check_one(r, key, name, "UTF-8 query at PATIENT level")

    def test_query_in_native_charset(self):
        for key, cs, raw, name, _w in CASES:
            with self.subTest(key):
                r = self.find([("SpecificCharacterSet", charset_value(cs)), ("PatientName", raw)])
                self.check_one(r, key, name, "query in %s" % charset_value(cs))

    def test_utf8_wildcards(self):
        for key, _cs, _raw, name, wildcards in CASES:
            for w in wildcards:
                with self.subTest(key=key, query=w):
                    r = self.find([("SpecificCharacterSet", "ISO_IR 192"),
                                   ("PatientName", w.encode("utf-8"))])
                    self.check_one(r, key, name, "UTF-8 wildcard %r" % w)

    def test_non_ascii_case_insensitive_name(self):
        r = self.find([("SpecificCharacterSet", "ISO_IR 192"),
                       ("PatientName", "BUC^JÉRÔME".encode("utf-8"))])
        self.check_one(r, "latin1", "Buc^Jérôme", "upper-case Latin-1 name in UTF-8")

    def test_latin1_query_does_not_match_other_sets(self):
        # 0xC4... in Latin-1 is 'Ä...', not the Greek name stored with the same bytes
        greek = [c for c in CASES if c[0] == "greek"][0]
        r = self.find([("SpecificCharacterSet", "ISO_IR 100"), ("PatientName", greek[2])])
        self.assertEqual(r.final_status, 0, r.output[-1500:])
        self.assertEqual([str(d.PatientID) for d in r.datasets], [],
                         "Greek bytes read as Latin-1 must not match the Greek name")

    def test_unknown_charset_still_stored(self):
        code = self.store.code(self.unknown_file)
        self.assertIsNotNone(code, self.store.output[-2000:])
        self.assertTrue(code == 0 or 0xB000 <= code <= 0xBFFF,
                        "an unknown character set must not be refused: 0x%04X" % code)
        self.assertEqual(len(self.srv.instance_rows(self.unknown_sop)), 1)
        r = self.find([("PatientID", "CS-unknown")])
        self.assertEqual(len(r.datasets), 1, r.output[-1500:])


if __name__ == "__main__":
    h.main()
