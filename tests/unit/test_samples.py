"""Sample files: Salvo's own (written by the locust plugin) and bzt's kpi.jtl."""

from __future__ import annotations

from salvo.common.clock import SystemClock
from salvo.common.histogram import LatencyHistogram
from salvo.executor.results.aggregate import SummaryBuilder
from salvo.executor.results.collector import ResultsCollector
from salvo.executor.tool.samples import SampleKind, SampleTail, SampleWriter, read_samples

JTL = (
    "allThreads,timeStamp,label,method,elapsed,bytes,responseCode,responseMessage,success,Latency\n"
    "2,1800000000500,/,GET,250,12,200,OK,true,0\n"
    "2,1800000001000,/x,GET,100,0,500,Internal,false,0\n"
)


def test_writer_and_reader_round_trip(tmp_path):
    path = tmp_path / "salvo-samples-1.csv"
    writer = SampleWriter(path)
    writer.request(
        start=1.5, elapsed_ms=12.345, label="/a,b", method="GET", code="200", success=True, nbytes=10, message=""
    )
    writer.user_error(start=2.0, label="User", message='ValueError: "quoted", comma')
    writer.close()
    first, second = read_samples(path)
    assert (first.label, first.elapsed_ms, first.code, first.success, first.bytes) == ("/a,b", 12.345, "200", True, 10)
    assert second.kind is SampleKind.USER_ERROR and second.message == 'ValueError: "quoted", comma'


def test_jtl_start_is_end_minus_elapsed(tmp_path):
    path = tmp_path / "kpi.jtl"
    path.write_text(JTL)
    ok, failed = read_samples(path)
    assert ok.start == 1800000000.25 and ok.elapsed_ms == 250 and ok.success
    assert not failed.success and failed.code == "500" and failed.message == "Internal"


def test_tail_returns_complete_rows_once_and_waits_for_partial_ones(tmp_path):
    path = tmp_path / "kpi.jtl"
    tail = SampleTail(path)
    assert tail.read_new() == []  # no file yet
    header, first, second = JTL.splitlines(keepends=True)
    path.write_text(header + first + second[:10])
    assert [s.label for s in tail.read_new()] == ["/"]
    with open(path, "a") as handle:
        handle.write(second[10:])
    assert [s.label for s in tail.read_new()] == ["/x"]
    assert tail.read_new() == []


def test_malformed_rows_are_counted_not_fatal(tmp_path):
    path = tmp_path / "kpi.jtl"
    path.write_text(JTL + "2,notatime,/y,GET,abc,0,200,OK,true,0\n")
    tail = SampleTail(path)
    assert len(tail.read_new()) == 2 and tail.malformed == 1


def test_summary_counts_and_timings(tmp_path):
    path = tmp_path / "kpi.jtl"
    path.write_text(JTL)
    builder = SummaryBuilder()
    for sample in read_samples(path):
        builder.add(sample)
    summary = builder.to_dict(timings={"start_at": 1800000000.0}, run_id="r", executor_id="e")
    assert summary["schema"] == "salvo.summary/1" and summary["run_id"] == "r"
    assert summary["totals"]["requests"] == 2 and summary["totals"]["failures"] == 1
    assert summary["timings"] == {
        "start_at": 1800000000.0,
        "first_request": 1800000000.25,
        "last_request": 1800000001.0,
    }
    assert LatencyHistogram.decode(summary["labels"]["/"]["histogram"]).count == 1
    assert [point["t"] for point in summary["series"]] == [1800000000]


def test_histogram_precision_round_trip_and_clamping():
    histogram = LatencyHistogram()
    for value in (0.0005, 1.0, 2.5, 999.9):
        histogram.record_ms(value)
    histogram.record_ms(5_000_000)  # past the one-hour range: clamped and counted
    decoded = LatencyHistogram.decode(histogram.encode())
    assert decoded.count == 5 and histogram.clamped == 1
    assert abs(decoded.percentile_ms(50) - 2.5) <= 2.5 * 0.001
    assert LatencyHistogram().percentile_ms(99) is None and LatencyHistogram.decode("").is_empty


def test_a_jmeter_jtl_stamps_each_request_when_it_began(tmp_path):
    jtl = tmp_path / "kpi.jtl"
    jtl.write_text(
        "timeStamp,elapsed,label,responseCode,responseMessage,success,bytes,allThreads\n"
        "1764300000250,40,GET /,200,OK,true,120,5\n"
    )
    (began,) = SampleTail(jtl, timestamp_is_start=True).read_new(final=True)
    (ended,) = SampleTail(jtl).read_new(final=True)
    assert began.start == 1764300000.25 and began.end == 1764300000.29
    assert ended.start == 1764300000.21  # bzt's own writers stamp the end


def test_a_jmeter_open_model_run_reads_its_arrivals_file_beside_kpi_jtl(tmp_path):
    """A gated JMeter's salvo-arrivals-*.jsonl (jmeter/salvo-gate Arrivals.java) adds planned/sent/dropped and the
    latencies from the intended send time to the requests kpi.jtl counts; a line of neither kind is
    counted malformed."""
    (tmp_path / "kpi.jtl").write_text(
        "timeStamp,elapsed,label,responseCode,responseMessage,success,bytes,allThreads\n"
        "1764300000250,40,GET /,200,OK,true,120,5\n"
        "1764300001250,10,GET /,200,OK,true,120,5\n"
    )
    (tmp_path / "salvo-arrivals-77.jsonl").write_text(
        '{"t":1764300000,"arrivals":{"planned":3,"sent":1,"dropped":2}}\n'
        '{"t":1764300001,"arrivals":{"planned":1,"sent":1,"dropped":0}}\n'
        '{"t":1764300000,"label":"GET /","intended":{"1040384":1}}\n'  # 40 ms service, 1 s late
        '{"t":1764300001,"label":"GET /","intended":{"10000":1}}\n'
        '{"t":1764300001,"label":"GET /"}\n'
    )
    collector = ResultsCollector(tmp_path, SystemClock(), locust_stats=False, jtl_timestamp_is_start=True)
    interval = collector.drain_interval()
    assert interval.requests == 2 and interval.arrivals == (4, 2, 2)
    assert LatencyHistogram.decode(interval.intended).count == 2
    summary = collector.run.to_dict()
    assert summary["arrivals"] == {"planned": 4, "sent": 2, "dropped": 2}
    assert [(p["t"], p["planned"], p["sent"], p["dropped"]) for p in summary["series"]] == [
        (1764300000, 3, 1, 2),
        (1764300001, 1, 1, 0),
    ]
    label = summary["labels"]["GET /"]
    assert label["requests"] == 2
    intended = LatencyHistogram.decode(label["intended_histogram"])
    assert intended.count == 2 and abs(intended.percentile_ms(100) - 1040.4) < 1.5
    assert sum(tail.malformed for tail in collector._stats.values()) == 1
