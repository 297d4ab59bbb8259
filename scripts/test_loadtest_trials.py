"""Unit tests of scripts/loadtest_trials.py, the load test's accounting.

They feed it real inputs (tests/data/loadtest/: a report `mirrorcap gen --report-json` wrote,
the appliance's /metrics texts around the same trial, the run's trials.csv from the bash
accounting this module replaced, a capinfos output) and assert the numbers, so a renamed key
in gen's report or in the metrics, or a change in the arithmetic, fails here.

Run: python3 -m unittest discover -s scripts -p 'test_loadtest*.py'   (from the repository);
tests/loadtest_accounting.rs runs them under cargo nextest.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadtest_trials as lt  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "loadtest"
SCRIPT = Path(__file__).resolve().parent / "loadtest_trials.py"


def data(name):
    return (DATA / name).read_text()


class GenReport(unittest.TestCase):
    def test_reads_the_numbers_of_a_real_report(self):
        r = lt.read_gen_report(DATA / "gen-report.json")
        self.assertEqual(r, {"sent_packets": 55328, "bytes": 31094336,
                             "duration_ns": 1000000081, "achieved_pps": 55327.99551843236,
                             "achieved_bps": 259377642.9904109})
        self.assertIsInstance(r["sent_packets"], int)

    def test_reads_only_keys_gen_writes(self):
        # gen-report.json has exactly gen's keys (src/gentx/report.rs tests that side).
        written = json.loads(data("gen-report.json"))
        self.assertLessEqual(set(lt.REPORT_KEYS), set(written))

    def test_a_missing_or_non_numeric_key_is_an_error(self):
        for key, value in [("bytes", None), ("sent_packets", "55328"), ("achieved_pps", True)]:
            report = json.loads(data("gen-report.json"))
            if value is None:
                del report[key]
            else:
                report[key] = value
            with tempfile.TemporaryDirectory() as d:
                p = Path(d, "r.json")
                p.write_text(json.dumps(report))
                with self.assertRaisesRegex(lt.AccountingError, repr(key)):
                    lt.read_gen_report(p)

    def test_the_older_guessed_keys_are_not_read(self):
        # The bash version fell back on packets/pps/sent.bytes/tx_bytes, none of which gen
        # writes: a report with only those is refused, not half-read.
        with tempfile.TemporaryDirectory() as d:
            p = Path(d, "r.json")
            p.write_text(json.dumps({"packets": 1, "tx_bytes": 2, "duration_ns": 3, "pps": 4,
                                     "bps": 5}))
            with self.assertRaises(lt.AccountingError):
                lt.read_gen_report(p)


class Metrics(unittest.TestCase):
    def test_totals_of_a_real_metrics_text(self):
        c = lt.counters(data("after.prom"))
        self.assertEqual(c["rx"], 91973)
        self.assertEqual(c["captured"], 91973)
        self.assertEqual(c["captured_bytes"], 47090176)
        self.assertEqual(c["stamp_gaps"], 284891)
        self.assertEqual(c["stamp_late"], 0)
        self.assertAlmostEqual(c["stamp_latency_sum_s"], 152.247444843)
        self.assertEqual(c["stamp_latency_count"], 91973)
        # One drop_<reason> per reason the appliance exposes, the same the bash version found.
        with open(DATA / "trials.csv", newline="") as f:
            cols = next(csv.reader(f))
        self.assertEqual(sorted(k for k in c if k.startswith("drop_")),
                         [k for k in cols if k.startswith("drop_")])
        self.assertEqual(len([k for k in c if k.startswith("drop_")]), 16)

    def test_exact_names_labels_and_comments(self):
        text = "\n".join([
            "# HELP mirrorcap_rx_packets_total x",
            "# TYPE mirrorcap_rx_packets_total counter",
            'mirrorcap_rx_packets_total{queue="0",worker="0"} 10',
            'mirrorcap_rx_packets_total{queue="1",worker="1"} 5 1700000000000',
            "mirrorcap_rx_packets_total_extra 1000",
            'mirrorcap_dropped_packets_total{reason="ring_full",worker="0"} 3',
            'mirrorcap_dropped_packets_total{worker="1",reason="ring_full"} 4',
            'mirrorcap_dropped_packets_total{reason="not_mirror",note="a \\"}\\" b"} 2e0',
            "",
        ])
        c = lt.counters(text)
        self.assertEqual(c["rx"], 15)
        self.assertEqual(c["drop_ring_full"], 7)
        self.assertEqual(c["drop_not_mirror"], 2)
        self.assertEqual(c["captured"], 0)
        self.assertEqual(lt.metric_total(text, "mirrorcap_rx_packets_total"), 15)

    def test_a_text_that_is_not_metrics_is_an_error(self):
        with self.assertRaises(lt.AccountingError):
            lt.counters("<html><body>502 Bad Gateway</body></html>\n")


class Trial(unittest.TestCase):
    def golden(self):
        with open(DATA / "trials.csv", newline="") as f:
            return list(csv.DictReader(f))

    def row(self, **over):
        g = self.golden()[2]
        args = dict(trial=3, size=512, phase="search", target_rate="55323pps", tolerance=0.0,
                    workers=1, report=lt.read_gen_report(DATA / "gen-report.json"),
                    before=lt.counters(data("before.prom")),
                    after=lt.counters(data("after.prom")),
                    loadavg=g["loadavg_1m"],
                    reasons=[k[5:] for k in g if k.startswith("drop_")])
        args.update(over)
        return lt.trial_row(**args)

    def test_the_row_the_bash_accounting_wrote(self):
        g = self.golden()[2]
        row = self.row()
        self.assertEqual(list(row), lt.header([k[5:] for k in g if k.startswith("drop_")]))
        self.assertEqual(list(row), list(g), "the columns and their order")
        # The scheduler columns depend on /proc readings the fixture does not hold.
        skip = {"worker_cpu_share", "worker_wait_share"}
        self.assertEqual({k: str(v) for k, v in row.items() if k not in skip},
                         {k: v for k, v in g.items() if k not in skip})
        self.assertEqual((row["sent"], row["captured"], row["loss"], row["pass"]),
                         (55328, 23609, 31719, 0))
        self.assertEqual(row["latency_mean_us"], "1859.2")

    def test_veth_peers_and_scheduler(self):
        row = self.row(veth_drops=(5, 105), sched=((1_000, 50), (500_001_000, 250_000_050)),
                       wall_ns=1_000_000_000, workers=1,
                       peers={"tcpdump-veth": 55328, "netsniff-ng": 0})
        self.assertEqual((row["veth_dropped"], row["socket_dropped"]), (100, 31619))
        self.assertEqual((row["worker_cpu_share"], row["worker_wait_share"]), ("0.500", "0.250"))
        self.assertEqual((row["tcpdump_veth"], row["tcpdump_vxlan"], row["netsniff_ng"]),
                         (55328, "", 0))

    def test_tolerance_decides_pass(self):
        self.assertEqual(self.row(tolerance=0.58)["pass"], 1)
        self.assertEqual(self.row(tolerance=0.57)["pass"], 0)

    def test_capinfos_output(self):
        self.assertEqual(lt.capinfos_count(data("capinfos.txt")), 1000)
        self.assertEqual(lt.capinfos_count(""), 0)


class Search(unittest.TestCase):
    def rows(self, *trials):
        """(phase, offered_pps, pass) triples as trials.csv rows of size 64."""
        return [{"size": "64", "phase": p, "offered_pps": str(o), "pass": "1" if ok else "0"}
                for p, o, ok in trials]

    def test_replays_the_bash_search(self):
        # The real run's trials, one prefix at a time: each next step is the trial it ran.
        with open(DATA / "trials.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        for k, r in enumerate(rows):
            self.assertEqual(lt.next_trial(rows[:k], 512, 2), (r["target_rate"], r["phase"]))
        self.assertIsNone(lt.next_trial(rows, 512, 2))
        self.assertEqual(lt.next_trial(rows, 64, 2), ("max", "max"), "another size starts over")

    def test_the_generator_is_the_limit(self):
        logged = []
        self.assertIsNone(lt.next_trial(self.rows(("max", 300000.4, True)), 64, 6,
                                        log=logged.append))
        self.assertIn("generator is the limit", logged[0])

    def test_bounds_move_to_the_achieved_rate(self):
        rows = self.rows(("max", 100000, False))
        self.assertEqual(lt.next_trial(rows, 64, 6), ("50500pps", "search"))  # floor 1000
        rows += self.rows(("search", 40000, True))   # asked 50500, got 40000: lo = 40000
        self.assertEqual(lt.next_trial(rows, 64, 6), ("70000pps", "search"))
        rows += self.rows(("search", 69999.6, False))  # hi = 70000
        self.assertEqual(lt.next_trial(rows, 64, 6), ("55000pps", "search"))
        self.assertIsNone(lt.next_trial(rows, 64, 2), "iterations used up, one trial passed")

    def test_floor_when_nothing_passed(self):
        rows = self.rows(("max", 100000, False), ("search", 50500, False))
        self.assertEqual(lt.next_trial(rows, 64, 1), ("1000pps", "floor"))
        self.assertEqual(lt.next_trial(rows, 64, 1, floor=5000), ("5000pps", "floor"))
        rows += self.rows(("floor", 1000, False))
        self.assertIsNone(lt.next_trial(rows, 64, 1))

    def test_stops_when_the_bounds_meet(self):
        # A step gen could only run at the maximum's rate passed there: lo = hi, nothing between.
        rows = self.rows(("max", 2000, False), ("search", 1500, True), ("search", 1999.6, True))
        self.assertIsNone(lt.next_trial(rows, 64, 6))
        # One apart still leaves a step.
        rows = self.rows(("max", 2000, False), ("search", 1500, True), ("search", 1501, False))
        self.assertEqual(lt.next_trial(rows, 64, 6), ("1500pps", "search"))


class CommandLine(unittest.TestCase):
    """loadtest.sh's calls, as it makes them."""

    def run_cli(self, *args):
        return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                              capture_output=True, text=True)

    def test_report_total_and_errors(self):
        r = self.run_cli("report", DATA / "gen-report.json")
        self.assertEqual(r.stdout.split(), ["55328", "31094336", "1000000081",
                                            "55327.99551843236", "259377642.9904109"])
        r = self.run_cli("total", DATA / "after.prom", "mirrorcap_rx_packets_total")
        self.assertEqual(r.stdout, "91973\n")
        r = self.run_cli("report", DATA / "after.prom")
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith("loadtest: error: "), r.stderr)

    def test_trials_and_search_through_files(self):
        with tempfile.TemporaryDirectory() as out:
            peers = Path(out, "peers")
            peers.mkdir()
            (peers / "tcpdump-veth.capinfos").write_text(data("capinfos.txt"))
            common = ["--size", 512, "--tolerance", 0, "--workers", 1, "--report",
                      DATA / "gen-report.json", "--before", DATA / "before.prom"]
            self.assertEqual(self.run_cli("next", out, 512, "--iterations", 2).stdout,
                             "max max\n")
            r = self.run_cli("trial", out, "--trial", 1, "--phase", "max", "--rate", "max",
                             "--after", DATA / "after.prom", "--peers", peers,
                             "--veth-drops", 0, 7, "--sched-before", 0, 0,
                             "--sched-after", 600, 300, "--wall-ns", 1000, *common)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("trial 001: 512 B at max: sent 55328 (55328 pps), captured 23609, "
                          "loss 31719 -> fail; peers: tcpdump-veth 1000", r.stderr)
            # A trial with nothing arriving (after = before) at a rate gen fell short of.
            r = self.run_cli("trial", out, "--trial", 2, "--phase", "search",
                             "--rate", "60000pps", "--after", DATA / "before.prom", *common)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("gen achieved 55328 pps of 60000 asked", r.stderr)
            with open(Path(out, "trials.csv"), newline="") as f:
                rows = list(csv.DictReader(f))
            self.assertEqual([r["trial"] for r in rows], ["1", "2"])
            self.assertEqual((rows[0]["veth_dropped"], rows[0]["socket_dropped"]), ("7", "31712"))
            self.assertEqual((rows[0]["worker_cpu_share"], rows[0]["tcpdump_veth"]),
                             ("0.600", "1000"))
            self.assertEqual((rows[1]["captured"], rows[1]["loss"], rows[1]["tcpdump_veth"]),
                             ("0", "55328", ""))
            # Both lost frames at 55328 pps: the floor stays 1000 (1 % of that is less), the
            # second search step is halfway.
            self.assertEqual(self.run_cli("next", out, 512, "--iterations", 2).stdout,
                             "28164pps search\n")

    def test_sched_of_a_process_without_workers(self):
        self.assertEqual(self.run_cli("sched", os.getpid()).stdout, "0 0\n")


if __name__ == "__main__":
    unittest.main()
