"""The emr-lookup plugin (plugins/emr-lookup) in a running server: patient demographics coerced
from an EMR before storage, the received values kept in Original Attributes Sequence (0400,0561),
the cache, the unreachable-EMR policy both ways, a slow EMR beyond the timeout, and a real
PostgreSQL source.

The FHIR EMR is a small FHIR-shaped HTTP server run by the test (http.server on a free port):
GET /fhir/Patient?identifier=system|value answers a searchset Bundle and counts the requests.
The PostgreSQL server is started by the test in a temp folder (initdb/pg_ctl of Debian's
postgresql-15, run as the `postgres` user when the test runs as root), on a free port, and
stopped at the end; the test is skipped only when PostgreSQL is not installed.

The plugin is <build>/plugins/emr-lookup/emr-lookup.so ($OSSA_BUILD_DIR, else beside $OSSA_BIN).

    OSSA_BIN=/abs/build/core/ossa /usr/bin/python3 tests/integration/test_emr_lookup.py
"""
import json
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import ossa_harness as h

SYSTEM = "urn:oid:1.2.3.4"
# C-STORE status of an instance stored with attributes the plugin changed (PS3.4 B.2.3:
# Warning, Coercion of Data Elements).
COERCED = 0xB000
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def emr_plugin():
    return h.in_tree_plugin("emr-lookup")



def fhir_patient(value, family, given, birth_date, gender, other_ids=()):
    identifiers = [{"system": SYSTEM, "value": value}]
    identifiers += [{"system": "urn:other", "value": v} for v in other_ids]
    return {"resourceType": "Patient", "id": value.lower(), "identifier": identifiers,
            "name": [{"use": "old", "family": "Former", "given": ["Name"]},
                     {"use": "official", "family": family, "given": given}],
            "birthDate": birth_date, "gender": gender}


class FhirServer:
    """A FHIR-shaped EMR: patients by (system, value); counts requests per identifier."""

    def __init__(self, patients, delay=0.0, tls=None):
        self.scheme = "https" if tls else "http"
        self.patients = patients  # {(system, value): Patient resource}
        self.delay = delay
        self.requests = []  # (identifier parameter, Authorization header)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                identifier = urllib.parse.parse_qs(url.query).get("identifier", [""])[0]
                with outer.lock:
                    outer.requests.append((identifier, self.headers.get("Authorization")))
                if outer.delay:
                    time.sleep(outer.delay)
                if url.path != "/fhir/Patient":
                    self.send_error(404)
                    return
                system, _, value = identifier.rpartition("|")
                found = [p for (s, v), p in outer.patients.items()
                         if v == value and (not system or s == system)]
                body = json.dumps({"resourceType": "Bundle", "type": "searchset",
                                   "total": len(found),
                                   "entry": [{"resource": p, "search": {"mode": "match"}}
                                             for p in found]}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/fhir+json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls:  # (certificate file, key file)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base_url(self):
        return "%s://127.0.0.1:%d/fhir" % (self.scheme, self.port)

    def count(self, value):
        with self.lock:
            return sum(1 for ident, _ in self.requests if ident.endswith(value))


class PostgresServer:
    """A throw-away PostgreSQL 15 cluster on a free port, owned by `postgres` when run as root."""

    def __init__(self):
        if not (PG_BIN / "initdb").is_file():
            raise unittest.SkipTest("PostgreSQL 15 is not installed (scripts/setup-debian.sh)")
        self.as_postgres = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="ossa-pg-"))
        self.data = self.dir / "data"
        self.port = h.free_port()
        if self.as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.started = False

    def _run(self, args, timeout=60):
        cmd = [str(a) for a in args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           cwd=str(self.dir))
        if r.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s" % (" ".join(cmd), r.returncode,
                                                          r.stdout.decode(errors="replace")))
        return r.stdout.decode(errors="replace")

    def start(self):
        self._run([PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                   "--no-sync", "-E", "UTF8", "--locale=C"])
        self._run([PG_BIN / "pg_ctl", "-D", self.data, "-l", self.dir / "pg.log", "-w", "-t", "30",
                   "-o", "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off"
                   % (self.port, self.dir), "start"])
        self.started = True
        return self

    def sql(self, statements):
        return self._run([PG_BIN / "psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                          "-p", self.port, "-U", "postgres", "-d", "postgres", "-c", statements])

    @property
    def conninfo(self):
        return "host=127.0.0.1 port=%d dbname=postgres user=postgres" % self.port

    def stop(self):
        if self.started:
            try:
                self._run([PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"])
            finally:
                self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


class EmrLookupTest(h.TempDirTestCase):
    def emr_server(self, config, subdir="srv", plugin_host=None):
        srv = self.server(subdir, start=False)
        h.set_plugins(srv, [{"path": str(emr_plugin()), "config": config}], plugin_host)
        srv.start()
        self.assertIn("plugin emr-lookup", srv.log_text())
        return srv

    def fhir(self, patients=None, delay=0.0, tls=None):
        emr = FhirServer(patients or {}, delay=delay, tls=tls).start()
        self.addCleanup(emr.stop)
        return emr

    def instance(self, name, **kw):
        path = self.tmp / "in" / (name + ".dcm")
        ds = h.make_instance(path, **kw)
        return path, ds

    def stored(self, srv, ds):
        return pydicom.dcmread(str(srv.stored_file(str(ds.SOPInstanceUID))))

    def patient_of(self, srv, study_uid):
        found = srv.find(["StudyInstanceUID=" + study_uid, "PatientName", "PatientID",
                          "PatientBirthDate", "PatientSex"], level="STUDY", workdir=self.tmp)
        self.assertFalse(found.failed, found.output)
        self.assertEqual(len(found.datasets), 1, found.output)
        d = found.datasets[0]
        return (str(d.PatientName), str(d.PatientBirthDate), str(d.PatientSex))

    def assert_originals(self, stored, system, expected, item=-1):
        """The Original Attributes Sequence item `item` says `system` changed these attributes
        from the `expected` values ({keyword: prior value, "" for absent})."""
        self.assertIn("OriginalAttributesSequence", stored)
        entry = stored.OriginalAttributesSequence[item]
        self.assertEqual(entry.ModifyingSystem, system)
        self.assertEqual(entry.ReasonForTheAttributeModification, "COERCE")
        self.assertEqual(entry.SourceOfPreviousValues, "STORESCU")
        self.assertRegex(str(entry.AttributeModificationDateTime), r"^\d{14}")
        self.assertEqual(len(entry.ModifiedAttributesSequence), 1)
        modified = entry.ModifiedAttributesSequence[0]
        got = {e.keyword: ("" if e.value is None else str(e.value)) for e in modified}
        self.assertEqual(got, expected)
        self.assertIn("InstanceCoercionDateTime", stored)

    # ---------------------------------------------------------------------------------------------

    def test_fhir_coerces_before_storage_and_keeps_the_originals(self):
        emr = self.fhir({
            (SYSTEM, "P1"): fhir_patient("P1", "Doe", ["Jane", "Mary"], "1970-04-05", "female",
                                         other_ids=["NHS-42", "MRN-7"]),
        })
        srv = self.emr_server({"source": "fhir",
                               "fhir": {"base_url": emr.base_url, "identifier_system": SYSTEM,
                                        "bearer_token": "s3cret"},
                               "cache": {"ttl_seconds": 300, "negative_ttl_seconds": 300}})
        study = h.new_uid()
        first, ds1 = self.instance("first", patient_id="P1", patient_name="WRONG^NAME",
                                   study_uid=study, PatientBirthDate="19000101", PatientSex="M")
        # A second instance of the patient that was coerced once before elsewhere: its item stays.
        earlier = Dataset()
        earlier.ModifyingSystem = "OTHER PACS"
        earlier.ReasonForTheAttributeModification = "CORRECT"
        earlier.AttributeModificationDateTime = "20200101120000"
        earlier.SourceOfPreviousValues = ""
        old = Dataset()
        old.PatientName = "OLDER^NAME"
        earlier.ModifiedAttributesSequence = Sequence([old])
        second, ds2 = self.instance("second", patient_id="P1", patient_name="Doe^Jane^Mary",
                                    study_uid=study, PatientBirthDate="19700405", PatientSex="F",
                                    OriginalAttributesSequence=Sequence([earlier]))
        r = srv.store([first, second])
        self.assertEqual(r.code(first), COERCED, r.output)
        self.assertEqual(r.code(second), COERCED, r.output)

        # findscu sees the EMR's values.
        self.assertEqual(self.patient_of(srv, study), ("Doe^Jane^Mary", "19700405", "F"))
        # The stored files hold them, and the received values in Original Attributes Sequence.
        s1 = self.stored(srv, ds1)
        self.assertEqual((str(s1.PatientName), s1.PatientBirthDate, s1.PatientSex),
                         ("Doe^Jane^Mary", "19700405", "F"))
        self.assertEqual(list(s1.OtherPatientIDs), ["NHS-42", "MRN-7"])
        self.assertEqual(len(s1.OriginalAttributesSequence), 1)
        self.assert_originals(s1, "emr-lookup", {"PatientName": "WRONG^NAME",
                                                  "PatientBirthDate": "19000101",
                                                  "PatientSex": "M", "OtherPatientIDs": ""})
        # Only what differed is recorded; the earlier item is kept, first.
        s2 = self.stored(srv, ds2)
        self.assertEqual(len(s2.OriginalAttributesSequence), 2)
        self.assertEqual(s2.OriginalAttributesSequence[0].ModifyingSystem, "OTHER PACS")
        self.assert_originals(s2, "emr-lookup", {"OtherPatientIDs": ""}, item=1)

        # One request for both instances (the cache), with the identifier system and the token.
        self.assertEqual(emr.requests, [(SYSTEM + "|P1", "Bearer s3cret")])

        # An unknown patient: stored as sent, asked once (the negative entry is cached too).
        unknown = [self.instance("u%d" % i, patient_id="P404", patient_name="AS^SENT")
                   for i in range(2)]
        r = srv.store([p for p, _ in unknown])
        self.assertEqual(len(r.succeeded()), 2, r.output)
        for _, ds in unknown:
            s = self.stored(srv, ds)
            self.assertEqual(str(s.PatientName), "AS^SENT")
            self.assertNotIn("OriginalAttributesSequence", s)
        self.assertEqual(emr.count("P404"), 1)

    def test_non_ascii_names_and_a_latin1_instance(self):
        emr = self.fhir({(SYSTEM, "U1"): fhir_patient("U1", "Müller", ["Jürgen"], "1960-07-08",
                                                      "male")})
        srv = self.emr_server({"source": "fhir",
                               "fhir": {"base_url": emr.base_url, "identifier_system": SYSTEM}})
        study = h.new_uid()
        path, ds = self.instance("latin1", patient_id="U1", patient_name="Gérard^Ève",
                                 charset="ISO_IR 100", study_uid=study)
        self.assertEqual(srv.store([path]).code(path), COERCED)
        self.assertEqual(self.patient_of(srv, study)[0], "Müller^Jürgen")
        s = self.stored(srv, ds)
        # The host moved the instance to UTF-8 for the new name; the received name, recorded in
        # the sequence, was converted with it and still reads as it was sent.
        self.assertEqual(s.SpecificCharacterSet, "ISO_IR 192")
        self.assertEqual(str(s.PatientName), "Müller^Jürgen")
        prior = s.OriginalAttributesSequence[0].ModifiedAttributesSequence[0]
        self.assertEqual(str(prior.PatientName), "Gérard^Ève")

    def test_cache_survives_across_associations_and_expires(self):
        emr = self.fhir({(SYSTEM, "C1"): fhir_patient("C1", "Cached", ["Carl"], "1980-01-02",
                                                      "male")})
        srv = self.emr_server({"source": "fhir",
                               "fhir": {"base_url": emr.base_url, "identifier_system": SYSTEM},
                               "cache": {"ttl_seconds": 2}})
        sent = [self.instance("c%d" % i, patient_id="C1", patient_name="X") for i in range(3)]
        r = srv.store([p for p, _ in sent])
        self.assertEqual(len(r.succeeded()), 3, r.output)
        for _, ds in sent:
            self.assertEqual(str(self.stored(srv, ds).PatientName), "Cached^Carl")
        # A later association of the same patient: still from the cache.
        path, _ = self.instance("c-again", patient_id="C1", patient_name="X")
        self.assertEqual(srv.store([path]).code(path), COERCED)
        self.assertEqual(emr.count("C1"), 1)
        time.sleep(2.2)  # past the TTL: asked again
        path, _ = self.instance("c-late", patient_id="C1", patient_name="X")
        self.assertEqual(srv.store([path]).code(path), COERCED)
        self.assertEqual(emr.count("C1"), 2)

    def test_unreachable_emr_stores_unchanged_with_a_warning(self):
        dead = "http://127.0.0.1:%d/fhir" % h.free_port()
        srv = self.emr_server({"source": "fhir", "fhir": {"base_url": dead},
                               "timeout_ms": 500})
        path, ds = self.instance("a", patient_id="P1", patient_name="AS^SENT")
        r = srv.store([path])
        self.assertEqual(r.code(path), 0, r.output)
        s = self.stored(srv, ds)
        self.assertEqual(str(s.PatientName), "AS^SENT")
        self.assertNotIn("OriginalAttributesSequence", s)
        log = srv.log_text()
        self.assertIn("[emr-lookup] FHIR %s unreachable" % dead, log)
        self.assertIn("EMR unreachable; stored unchanged", log)

    def test_unreachable_emr_with_reject_refuses_with_a700(self):
        dead = "http://127.0.0.1:%d/fhir" % h.free_port()
        srv = self.emr_server({"source": "fhir", "fhir": {"base_url": dead},
                               "timeout_ms": 500, "on_unreachable": "reject"})
        path, ds = self.instance("a", patient_id="P1")
        r = srv.store([path])
        self.assertEqual(r.code(path), 0xA700, r.output)
        self.assertNotIn(str(ds.SOPInstanceUID), srv.indexed_sop_uids())
        # Instances without a Patient ID are not looked up, so never refused.
        nopid, _ = self.instance("b", patient_id="")
        self.assertEqual(srv.store([nopid]).code(nopid), 0)

    def test_slow_emr_beyond_the_timeout(self):
        emr = self.fhir({(SYSTEM, "S1"): fhir_patient("S1", "Slow", ["Sam"], "1990-01-01",
                                                      "male")}, delay=2.0)
        srv = self.emr_server({"source": "fhir",
                               "fhir": {"base_url": emr.base_url, "identifier_system": SYSTEM},
                               "timeout_ms": 300, "on_unreachable": "reject",
                               "retry_unreachable_after_ms": 5000})
        files = [self.instance("s%d" % i, patient_id="S1")[0] for i in range(3)]
        started = time.monotonic()
        r = srv.store(files, options=["-nh"])  # storescu stops at a refusal unless told not to
        elapsed = time.monotonic() - started
        self.assertEqual([r.code(f) for f in files], [0xA700] * 3, r.output)
        # The first waited for the timeout; the others got the policy at once (no new request).
        self.assertLess(elapsed, 1.8, r.output)
        self.assertEqual(emr.count("S1"), 1)
        self.assertIn("unreachable: GET /fhir/Patient?identifier=", srv.log_text())

    def test_postgresql_source(self):
        pg = PostgresServer()
        self.addCleanup(pg.stop)
        pg.start()
        pg.sql("CREATE TABLE patients (id text, issuer text, name text, birth_date date,"
               " sex text, other_ids text[]);"
               "INSERT INTO patients VALUES"
               " ('Q1', 'HOSP_A', 'SQL^SALLY^^DR', '1965-12-31', 'F', ARRAY['X-1','X-2']),"
               " ('Q1', 'HOSP_B', 'OTHER^PERSON', '2001-01-01', 'M', NULL);")
        query = ("SELECT name, birth_date, sex, other_ids FROM patients"
                 " WHERE id = $1 AND issuer = $2")
        srv = self.emr_server({"source": "sql", "use_issuer": True,
                               "sql": {"conninfo": pg.conninfo, "query": query}})
        study = h.new_uid()
        path, ds = self.instance("q", patient_id="Q1", patient_name="WRONG", study_uid=study,
                                 IssuerOfPatientID="HOSP_A", PatientSex="O")
        r = srv.store([path])
        self.assertEqual(r.code(path), COERCED, r.output)
        self.assertEqual(self.patient_of(srv, study), ("SQL^SALLY^^DR", "19651231", "F"))
        s = self.stored(srv, ds)
        self.assertEqual(list(s.OtherPatientIDs), ["X-1", "X-2"])
        self.assert_originals(s, "emr-lookup", {"PatientName": "WRONG", "PatientBirthDate": "",
                                                 "PatientSex": "O", "OtherPatientIDs": ""})
        # Another issuer's Q1 is another patient; an unknown one is stored unchanged.
        other, ds_other = self.instance("q2", patient_id="Q1", patient_name="X",
                                        IssuerOfPatientID="HOSP_B")
        unknown, ds_unknown = self.instance("q3", patient_id="Q1", patient_name="X",
                                            IssuerOfPatientID="HOSP_C")
        r = srv.store([other, unknown])
        self.assertEqual(len(r.succeeded()), 2, r.output)
        self.assertEqual(str(self.stored(srv, ds_other).PatientName), "OTHER^PERSON")
        self.assertEqual(str(self.stored(srv, ds_unknown).PatientName), "X")
        srv.stop()

        # A query slower than the timeout: refused with A700, in about the timeout.
        slow = self.emr_server({"source": "sql",
                                "sql": {"conninfo": pg.conninfo,
                                        "query": "SELECT name FROM patients, pg_sleep(3)"
                                                 " WHERE id = $1"},
                                "timeout_ms": 400, "on_unreachable": "reject"}, subdir="slow")
        path, _ = self.instance("slow", patient_id="Q1")
        started = time.monotonic()
        r = slow.store([path])
        self.assertEqual(r.code(path), 0xA700, r.output)
        self.assertLess(time.monotonic() - started, 2.5)
        self.assertIn("timed out waiting for the answer", slow.log_text())

    def test_https_with_the_sites_ca_and_a_refused_certificate(self):
        if not shutil.which("openssl"):
            self.skipTest("openssl not installed (scripts/setup-debian.sh)")
        cert, key = self.tmp / "emr.pem", self.tmp / "emr.key"
        h.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
               "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
               "-keyout", key, "-out", cert], check=True)
        emr = self.fhir({(SYSTEM, "T1"): fhir_patient("T1", "Tls", ["Tina"], "1975-05-06",
                                                      "female")}, tls=(str(cert), str(key)))
        self.assertTrue(emr.base_url.startswith("https://"))
        trusted = self.emr_server({"source": "fhir",
                                   "fhir": {"base_url": emr.base_url, "identifier_system": SYSTEM,
                                            "ca_file": str(cert)}})
        path, ds = self.instance("t1", patient_id="T1", patient_name="X")
        self.assertEqual(trusted.store([path]).code(path), COERCED)
        self.assertEqual(str(self.stored(trusted, ds).PatientName), "Tls^Tina")
        trusted.stop()
        # Without the site's CA the self-signed certificate is refused: the EMR is unreachable.
        untrusted = self.emr_server({"source": "fhir", "timeout_ms": 1000,
                                     "fhir": {"base_url": emr.base_url,
                                              "identifier_system": SYSTEM}}, subdir="untrusted")
        path, ds = self.instance("t2", patient_id="T1", patient_name="X")
        self.assertEqual(untrusted.store([path]).code(path), 0)
        self.assertEqual(str(self.stored(untrusted, ds).PatientName), "X")
        self.assertIn("unreachable", untrusted.log_text())
        self.assertEqual(emr.count("T1"), 1)  # the refused handshake never reached the handler

    def test_bad_configuration_leaves_the_plugin_out(self):
        srv = self.server(start=False)
        h.set_plugins(srv, [{"path": str(emr_plugin()),
                             "config": {"source": "fhir", "fhir": {"base_url": "ftp://x"}}}])
        srv.start()
        self.assertIn("fhir.base_url must start with http:// or https://", srv.log_text())
        path, _ = self.instance("a")
        self.assertEqual(srv.store([path]).code(path), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
