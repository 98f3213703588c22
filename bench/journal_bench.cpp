/// `cairn-bench journal`: the journal against raw LMDB on the same
/// filesystem, in one run.
///
/// - **Append.** A plain LMDB environment (its own directory, same map size,
///   LMDB's default flags plus `MDB_NOTLS`: full sync) puts `batch` 200-byte
///   values per write transaction with `MDB_APPEND` under 16-byte
///   big-endian keys, as the journal's `events` keys are. The journal (sync
///   mode `full`) commits `batch` write groups per `journal::commit`, each
///   appending one 200-byte event to its own stream `bench-<i>` with an
///   exact expected version. Every commit appends to the same streams, as a
///   fixed population of aggregates would. Each batch size gets fresh
///   directories. Both sides run the same number of commits: after a few
///   warm-up commits, a probe of each side's commit time picks the count so
///   that the two together take about twice `--seconds`. To cancel the
///   drift of a shared disk, raw and journal alternate in `--rounds`.
///   Each side also reports the bytes its timed commits handed to write(2)
///   and its kin per event (`wchar` of /proc/self/io): the pages LMDB
///   wrote, which the sync then waits for; and the CPU time of a commit,
///   which the disk's drift does not move.
/// - **Read.** One stream of `--read-events` events, written in commits of
///   10,000 events with sync mode `none` (only to save time: the sync mode
///   does not change what is read), read back with `read_stream` in chunks
///   of `--chunk` events, each payload decoded with `journal::codec`. The
///   baseline is a raw LMDB environment holding as many 200-byte values
///   (the same payload bytes), scanned with one cursor (`MDB_NEXT`),
///   touching one byte of each value. For information, the same scan that
///   also decodes each value with the codec's `from_bytes` shows what the
///   journal costs beyond decoding. The journal's in-place read
///   (`visit_stream`, checksums verified, nothing copied or decoded) touches
///   one byte of each payload, as the raw scan does. Each read is warmed up
///   by one untimed pass; then, `--rounds` times, each read in turn (raw
///   scan, read, raw scan with decode, in-place read, log read) is repeated
///   for its share of `--seconds`, so that the machine's drift moves the
///   journal's reads and their baselines alike.

#include <lmdb.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/journal.hpp"

namespace cairn::bench {

namespace {

namespace jr = cairn::journal;

// -- parameters ---------------------------------------------------------------

constexpr size_t event_bytes = 200;
constexpr uint64_t map_size = uint64_t{4} << 30;
constexpr double append_target = 0.6;
constexpr double read_target = 0.3;
/// Target of the in-place read (no decode) against the raw cursor scan.
constexpr double view_read_target = 0.3;
constexpr const char* event_type = "bench_event";
constexpr const char* read_stream_name = "read-1";
constexpr size_t batch_sizes[] = {1, 10, 100, 1000};
/// Events per commit while filling the journals of the read test.
constexpr size_t fill_batch = 10000;

struct params {
  /// Target duration of each side of an append case (the two together take
  /// about twice this) and of each read case.
  double seconds = 1.5;
  /// Commits per append case; 0 calibrates on the raw case.
  uint64_t commits = 0;
  /// Rounds of raw then journal commits per append case.
  uint64_t rounds = 3;
  /// Untimed commits before each append case.
  uint64_t warmup_commits = 3;
  /// Commits of each side that probe the speed of a calibrated case; at
  /// least this many per round are timed.
  uint64_t min_commits = 5;
  /// At most this many events per calibrated case.
  uint64_t max_events = 1000000;
  uint64_t read_events = 1000000;
  uint64_t read_chunk = 4096;
  /// Sync mode of the append cases, for both the journal and raw LMDB.
  jr::sync_mode sync = jr::sync_mode::full;
  /// Whether `--quick` shrank the sizes.
  bool quick = false;
};

/// The LMDB environment flags that give raw LMDB the journal's `sync`.
unsigned raw_sync_flags(jr::sync_mode sync) {
  switch (sync) {
    case jr::sync_mode::full:
      return 0;
    case jr::sync_mode::no_meta_sync:
      return MDB_NOMETASYNC;
    default:
      return MDB_NOSYNC;
  }
}

/// The event of the benchmark: 200 bytes as a cereal binary archive (8 + 4
/// + 4 + 8-byte length + 176 characters).
struct bench_event {
  uint64_t id = 0;
  uint32_t kind = 0;
  uint32_t flags = 0;
  std::string text;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, kind, flags, text);
  }
};

std::string make_payload(uint64_t id) {
  bench_event x;
  x.id = id;
  x.kind = static_cast<uint32_t>(id % 7);
  x.flags = 1;
  x.text.assign(176, static_cast<char>('a' + id % 26));
  auto bytes = jr::to_bytes(x);
  if (bytes.size() != event_bytes)
    throw std::logic_error("the bench event encodes to "
                           + std::to_string(bytes.size()) + " bytes, not "
                           + std::to_string(event_bytes));
  return bytes;
}

/// Keeps results of read loops alive so that the compiler cannot drop them.
volatile uint64_t sink = 0;

/// Prints progress to stderr when the output is a table.
void progress(const settings& cfg, const std::string& what) {
  if (!cfg.json)
    std::cerr << "  " << what << "...\n";
}

// -- the journal --------------------------------------------------------------

std::unique_ptr<jr::journal> open_journal(const std::string& dir,
                                          jr::sync_mode sync) {
  jr::options opts;
  opts.sync = sync;
  opts.map_size = map_size;
  auto j = jr::journal::open(dir, opts);
  if (!j)
    throw std::runtime_error("journal::open(" + dir
                             + "): " + describe(j.error()));
  return std::move(*j);
}

/// Commits `groups` and throws unless every group committed.
void commit_all(jr::journal& j, const std::vector<jr::write_group>& groups) {
  auto res = j.commit(groups);
  if (!res)
    throw std::runtime_error("journal::commit: " + describe(res.error()));
  for (auto& outcome : *res)
    if (!outcome)
      throw std::runtime_error("journal::commit: a group failed: "
                               + describe(outcome.error()));
}

// -- append cases -------------------------------------------------------------

/// The figures of one side (raw or journal) of one append case.
struct append_result {
  uint64_t commits = 0;
  uint64_t events = 0;
  double seconds = 0;
  std::vector<double> commit_us;
  /// Bytes of the map in use per event written, at the end.
  double bytes_per_event = 0;
  /// Bytes the timed commits passed to write(2) and its kin: the pages
  /// LMDB wrote.
  double written = 0;
  /// CPU seconds of the process during the timed commits.
  double cpu_seconds = 0;

  double written_per_event() const {
    return events > 0 ? written / events : 0;
  }

  double cpu_us_per_commit() const {
    return commits > 0 ? cpu_seconds * 1e6 / commits : 0;
  }

  double events_per_s() const {
    return seconds > 0 ? events / seconds : 0;
  }

  double us_per_commit() const {
    return commits > 0 ? seconds * 1e6 / commits : 0;
  }

  double p99_us() const {
    return percentile(commit_us, 99);
  }
};

/// Raw LMDB's side: `batch` values per write transaction.
class raw_writer {
public:
  raw_writer(const std::string& dir, size_t batch, const params& p)
    : db_(dir, map_size, raw_sync_flags(p.sync)), batch_(batch),
      value_(make_payload(0)) {
    // nop
  }

  void commit() {
    db_.append(batch_, value_);
    written_ += batch_;
  }

  double bytes_per_event() const {
    return static_cast<double>(db_.used_bytes()) / written_;
  }

private:
  raw_lmdb db_;
  size_t batch_;
  std::string value_;
  uint64_t written_ = 0;
};

/// The journal's side: `batch` single-event groups per commit, group `i`
/// appending to stream `bench-<i>`.
class journal_writer {
public:
  journal_writer(const std::string& dir, size_t batch, const params& p)
    : journal_(open_journal(dir, p.sync)), groups_(batch) {
    for (size_t i = 0; i < batch; ++i) {
      auto& a = groups_[i].appends.emplace_back();
      a.stream = "bench-" + std::to_string(i);
      auto& rec = a.events.emplace_back();
      rec.type = event_type;
      rec.payload = make_payload(i);
    }
  }

  void commit() {
    for (auto& g : groups_)
      g.appends.front().expected = jr::expected_version::exact(version_);
    commit_all(*journal_, groups_);
    ++version_;
  }

  double bytes_per_event() const {
    auto stats = journal_->stats();
    if (!stats)
      throw std::runtime_error("journal::stats: " + describe(stats.error()));
    return static_cast<double>(stats->map_used) / stats->events;
  }

  /// Bytes of one stored event record.
  uint64_t record_bytes() const {
    auto raw = journal_->raw_event("bench-0", 1);
    return raw && *raw ? (*raw)->size() : 0;
  }

private:
  std::unique_ptr<jr::journal> journal_;
  std::vector<jr::write_group> groups_;
  uint64_t version_ = 0;
};

/// Runs `w.commit()` `commits` times, adding the figures to `r`.
template <class Writer>
void timed_commits(Writer& w, size_t batch, uint64_t commits,
                   append_result& r) {
  auto written = bytes_written();
  auto cpu = process_cpu_seconds();
  stopwatch total;
  for (uint64_t i = 0; i < commits; ++i) {
    stopwatch one;
    w.commit();
    r.commit_us.push_back(one.micros());
  }
  r.seconds += total.seconds();
  r.written += bytes_written() - written;
  r.cpu_seconds += process_cpu_seconds() - cpu;
  r.commits += commits;
  r.events += commits * batch;
}

/// Returns the mean seconds per commit of `commits` commits of `w`, which
/// do not count in the figures.
template <class Writer>
double probe(Writer& w, uint64_t commits) {
  stopwatch sw;
  for (uint64_t i = 0; i < commits; ++i)
    w.commit();
  return sw.seconds() / commits;
}

/// The figures of one batch size.
struct batch_figures {
  size_t batch = 0;
  append_result raw;
  append_result cairn;
  uint64_t record_bytes = 0;

  double ratio() const {
    return cairn.events_per_s() / raw.events_per_s();
  }
};

batch_figures append_case(const temp_dir& tmp, size_t batch, const params& p) {
  batch_figures f;
  f.batch = batch;
  auto raw_dir = tmp.sub("raw-" + std::to_string(batch));
  auto dir = tmp.sub("journal-" + std::to_string(batch));
  {
    raw_writer raw{raw_dir, batch, p};
    journal_writer cairn{dir, batch, p};
    for (uint64_t i = 0; i < p.warmup_commits; ++i) {
      raw.commit();
      cairn.commit();
    }
    // Both sides run the same commits; calibrated, their sum takes about
    // twice `p.seconds`, so the slower side gets most of the time.
    auto rounds = std::max<uint64_t>(p.rounds, 1);
    auto commits = p.commits;
    if (commits == 0) {
      auto per_commit = probe(raw, p.min_commits) + probe(cairn, p.min_commits);
      commits = static_cast<uint64_t>(2 * p.seconds / per_commit);
      commits
        = std::clamp(commits, p.min_commits * rounds,
                     std::max(p.min_commits * rounds, p.max_events / batch));
    }
    auto per_round = (commits + rounds - 1) / rounds;
    for (uint64_t i = 0; i < rounds; ++i) {
      timed_commits(raw, batch, per_round, f.raw);
      timed_commits(cairn, batch, per_round, f.cairn);
    }
    f.raw.bytes_per_event = raw.bytes_per_event();
    f.cairn.bytes_per_event = cairn.bytes_per_event();
    f.record_bytes = cairn.record_bytes();
  }
  remove_tree(raw_dir);
  remove_tree(dir);
  return f;
}

// -- read cases ---------------------------------------------------------------

/// The figures of one read case.
struct read_result {
  uint64_t events = 0;
  uint64_t passes = 0;
  double seconds = 0;
  double bytes_per_event = 0;

  double events_per_s() const {
    return seconds > 0 ? events / seconds : 0;
  }
};

/// Runs `pass` (which returns the events it read) until `seconds` passed,
/// adding to `r`.
template <class F>
void timed_passes(F&& pass, double seconds, read_result& r) {
  stopwatch sw;
  do {
    r.events += pass();
    ++r.passes;
  } while (sw.seconds() < seconds);
  r.seconds += sw.seconds();
}

void check_count(uint64_t n, const params& p) {
  if (n != p.read_events)
    throw std::runtime_error("read " + std::to_string(n) + " events, not "
                             + std::to_string(p.read_events));
}

/// The read cases.
struct reads {
  /// `read_stream`, each event decoded.
  read_result read;
  /// `visit_stream` in place, one byte of each payload touched, as the raw
  /// scan does.
  read_result view;
  /// `read_all` from the start of the log, as a subscription catching up
  /// reads, each event decoded.
  read_result log;
  /// The raw cursor scan, and the same decoding each value.
  read_result scan;
  read_result scan_decode;
};

/// Fills a journal in `dir` and a raw environment in `raw_dir` with the
/// same events, then times the reads of both in turn, `--rounds` times, so
/// that the machine's drift moves both sides alike.
reads read_cases(const std::string& dir, const std::string& raw_dir,
                 const params& p) {
  auto j = open_journal(dir, jr::sync_mode::none);
  std::vector<jr::write_group> groups(1);
  auto& a = groups[0].appends.emplace_back();
  a.stream = read_stream_name;
  for (uint64_t done = 0; done < p.read_events;) {
    auto n = std::min<uint64_t>(fill_batch, p.read_events - done);
    a.expected = jr::expected_version::exact(done);
    a.events.resize(n);
    for (uint64_t i = 0; i < n; ++i) {
      a.events[i].type = event_type;
      a.events[i].payload = make_payload(done + i + 1);
    }
    commit_all(*j, groups);
    done += n;
  }
  jr::codec c;
  c.add<bench_event>(event_type);
  auto pass = [&] {
    uint64_t n = 0;
    uint64_t sum = 0;
    std::vector<jr::stored_event> buf; // reused by every chunk
    auto evs = &buf;
    for (uint64_t from = 1;;) {
      if (auto err = j->read_stream(read_stream_name, from, p.read_chunk, buf))
        throw std::runtime_error("journal::read_stream: " + describe(err));
      if (evs->empty())
        break;
      for (auto& ev : *evs) {
        auto x = c.decode<bench_event>(ev);
        if (!x)
          throw std::runtime_error("codec::decode: " + describe(x.error()));
        sum += x->id + x->text.size();
      }
      n += evs->size();
      from = evs->back().version + 1;
    }
    check_count(n, p);
    sink = sink + sum;
    return n;
  };
  reads out;
  if (auto stats = j->stats())
    out.read.bytes_per_event
      = static_cast<double>(stats->map_used) / p.read_events;
  out.view.bytes_per_event = out.read.bytes_per_event;
  out.log.bytes_per_event = out.read.bytes_per_event;
  auto view_pass = [&] {
    uint64_t n = 0;
    uint64_t sum = 0;
    auto touch = [&](const jr::event_view& ev) {
      sum += static_cast<unsigned char>(ev.record.payload.back());
    };
    for (uint64_t from = 1;;) {
      auto k = j->visit_stream(read_stream_name, from, p.read_chunk, touch);
      if (!k)
        throw std::runtime_error("journal::visit_stream: "
                                 + describe(k.error()));
      if (*k == 0)
        break;
      n += *k;
      from += *k;
    }
    check_count(n, p);
    sink = sink + sum;
    return n;
  };
  auto log_pass = [&] {
    uint64_t n = 0;
    uint64_t sum = 0;
    for (uint64_t from = 1;;) {
      auto slice = j->read_all(from, p.read_chunk);
      if (!slice)
        throw std::runtime_error("journal::read_all: "
                                 + describe(slice.error()));
      if (slice->events.empty())
        break;
      for (auto& ev : slice->events) {
        auto x = c.decode<bench_event>(ev);
        if (!x)
          throw std::runtime_error("codec::decode: " + describe(x.error()));
        sum += x->id + x->text.size();
      }
      n += slice->events.size();
      from = slice->next_position;
    }
    check_count(n, p);
    sink = sink + sum;
    return n;
  };
  raw_lmdb db{raw_dir, map_size, MDB_NOSYNC};
  std::vector<std::string> values;
  for (uint64_t done = 0; done < p.read_events;) {
    auto n = std::min<uint64_t>(fill_batch, p.read_events - done);
    values.resize(n);
    for (uint64_t i = 0; i < n; ++i)
      values[i] = make_payload(done + i + 1);
    db.append(values);
    done += n;
  }
  auto scan = [&] {
    uint64_t sum = 0;
    auto n = db.scan([&](const char* data, size_t size) {
      sum += static_cast<unsigned char>(data[size - 1]);
    });
    check_count(n, p);
    sink = sink + sum;
    return n;
  };
  out.scan.bytes_per_event
    = static_cast<double>(db.used_bytes()) / p.read_events;
  out.scan_decode.bytes_per_event = out.scan.bytes_per_event;
  std::string buf;
  auto decode = [&] {
    uint64_t sum = 0;
    auto n = db.scan([&](const char* data, size_t size) {
      buf.assign(data, size);
      auto x = jr::from_bytes<bench_event>(buf);
      if (!x)
        throw std::runtime_error("from_bytes: " + describe(x.error()));
      sum += x->id + x->text.size();
    });
    check_count(n, p);
    sink = sink + sum;
    return n;
  };
  // Each read once untimed, then each in turn for its share of the time.
  pass();
  view_pass();
  log_pass();
  scan();
  decode();
  auto rounds = std::max<uint64_t>(p.rounds, 1);
  auto share = p.seconds / static_cast<double>(rounds);
  for (uint64_t i = 0; i < rounds; ++i) {
    timed_passes(scan, share, out.scan);
    timed_passes(pass, share, out.read);
    timed_passes(decode, share, out.scan_decode);
    timed_passes(view_pass, share, out.view);
    timed_passes(log_pass, share, out.log);
  }
  return out;
}

// -- output -------------------------------------------------------------------

/// All figures of one run.
struct figures {
  std::vector<batch_figures> appends;
  read_result read;
  read_result view;
  read_result log;
  read_result scan;
  read_result scan_decode;

  const batch_figures& largest() const {
    return appends.back();
  }

  double append_ratio() const {
    return largest().ratio();
  }

  double read_ratio() const {
    return read.events_per_s() / scan.events_per_s();
  }

  double view_read_ratio() const {
    return view.events_per_s() / scan.events_per_s();
  }
};

void print_json(const params& p, const figures& f) {
  json_object batches;
  for (auto& b : f.appends) {
    json_object x;
    x.set("commits", b.raw.commits)
      .set("events", b.raw.events)
      .set("raw_events_per_s", b.raw.events_per_s())
      .set("events_per_s", b.cairn.events_per_s())
      .set("ratio", b.ratio())
      .set("raw_us_per_commit", b.raw.us_per_commit())
      .set("us_per_commit", b.cairn.us_per_commit())
      .set("raw_p99_us", b.raw.p99_us())
      .set("p99_us", b.cairn.p99_us())
      .set("raw_bytes_per_event", b.raw.bytes_per_event)
      .set("bytes_per_event", b.cairn.bytes_per_event)
      .set("raw_write_bytes_per_event", b.raw.written_per_event())
      .set("write_bytes_per_event", b.cairn.written_per_event())
      .set("raw_cpu_us_per_commit", b.raw.cpu_us_per_commit())
      .set("cpu_us_per_commit", b.cairn.cpu_us_per_commit());
    batches.set(std::to_string(b.batch), x);
  }
  json_object conditions;
  conditions.set("event_bytes", event_bytes)
    .set("record_bytes", f.largest().record_bytes)
    .set("sync", jr::to_string(p.sync))
    .set("map_size", map_size)
    .set("append_commits", p.commits > 0 ? "fixed" : "calibrated")
    .set("append_rounds", p.rounds)
    .set("read_rounds", p.rounds)
    .set("seconds_per_case", p.seconds)
    .set("warmup_commits", p.warmup_commits)
    .set("streams", "one per group, reused by every commit")
    .set("read_events", p.read_events)
    .set("read_chunk", p.read_chunk)
    .set("read_fill_sync", "none");
  auto raw_decode_ratio = f.read.events_per_s() / f.scan_decode.events_per_s();
  auto log_decode_ratio = f.log.events_per_s() / f.scan_decode.events_per_s();
  json_object out;
  out.set("subcommand", "journal")
    .set("quick", p.quick)
    .set("events_per_s", f.largest().cairn.events_per_s())
    .set("raw_events_per_s", f.largest().raw.events_per_s())
    .set("append_ratio", f.append_ratio())
    .set("append_target", append_target)
    .set("append_target_met", f.append_ratio() >= append_target)
    .set("read_events_per_s", f.read.events_per_s())
    .set("raw_scan_per_s", f.scan.events_per_s())
    .set("read_ratio", f.read_ratio())
    .set("read_target", read_target)
    .set("read_target_met", f.read_ratio() >= read_target)
    .set("view_read_per_s", f.view.events_per_s())
    .set("view_read_ratio", f.view_read_ratio())
    .set("view_read_target", view_read_target)
    .set("view_read_target_met", f.view_read_ratio() >= view_read_target)
    .set("raw_scan_decode_per_s", f.scan_decode.events_per_s())
    .set("read_vs_raw_decode_ratio", raw_decode_ratio)
    .set("log_read_per_s", f.log.events_per_s())
    .set("log_read_vs_raw_decode_ratio", log_decode_ratio)
    .set("read_bytes_per_event", f.read.bytes_per_event)
    .set("raw_scan_bytes_per_event", f.scan.bytes_per_event)
    .set("batches", batches)
    .set("conditions", conditions);
  std::cout << out.str() << std::endl;
}

void print_tables(const params& p, const figures& f) {
  auto& out = std::cout;
  out << "\njournal append vs raw LMDB (MDB_APPEND): " << event_bytes
      << "-byte events (journal record " << f.largest().record_bytes
      << " bytes), sync " << jr::to_string(p.sync)
      << ", one stream per group\n\n";
  table t{{"case", "events/commit", "commits", "events/s", "ratio", "us/commit",
           "p99 us", "cpu us/commit", "map bytes/event",
           "written bytes/event"}};
  for (auto& b : f.appends) {
    auto add = [&](const char* name, const append_result& r, double ratio) {
      t.add_row({name, std::to_string(b.batch), std::to_string(r.commits),
                 fmt_count(r.events_per_s()), fmt_fixed(ratio, 2),
                 fmt_count(r.us_per_commit()), fmt_count(r.p99_us()),
                 fmt_count(r.cpu_us_per_commit()), fmt_count(r.bytes_per_event),
                 fmt_count(r.written_per_event())});
    };
    add("raw lmdb", b.raw, 1.0);
    add("journal", b.cairn, b.ratio());
  }
  t.print(out);
  out << "\nread one stream vs raw cursor scan: " << p.read_events
      << " events, chunks of " << p.read_chunk
      << ", decoded with journal::codec\n\n";
  table r{{"case", "events", "passes", "events/s", "ratio", "map bytes/event"}};
  auto add = [&](const char* name, const read_result& x) {
    r.add_row({name, std::to_string(p.read_events), std::to_string(x.passes),
               fmt_count(x.events_per_s()),
               fmt_fixed(x.events_per_s() / f.scan.events_per_s(), 2),
               fmt_count(x.bytes_per_event)});
  };
  add("raw cursor scan", f.scan);
  add("raw scan + from_bytes", f.scan_decode);
  add("journal read + decode", f.read);
  add("journal view read", f.view);
  add("journal log read + decode", f.log);
  r.print(out);
  auto verdict = [&](const char* what, double ratio, double target) {
    out << what << fmt_fixed(ratio, 2) << " (target >= " << fmt_fixed(target, 2)
        << "): " << (ratio >= target ? "met" : "MISSED") << '\n';
  };
  out << '\n';
  verdict("append ratio at 1000 events/commit: ", f.append_ratio(),
          append_target);
  verdict("read ratio:                         ", f.read_ratio(), read_target);
  verdict("view read ratio (no decode):        ", f.view_read_ratio(),
          view_read_target);
}

// -- the subcommand -----------------------------------------------------------

params make_params(const settings& cfg) {
  params p;
  p.quick = cfg.quick;
  if (cfg.quick) {
    p.seconds = 0.05;
    p.commits = 20;
    p.rounds = 1;
    p.warmup_commits = 2;
    p.read_events = 20000;
  }
  p.seconds = cfg.get_number("--seconds", p.seconds);
  p.commits = cfg.get_count("--commits", p.commits);
  p.rounds = cfg.get_count("--rounds", p.rounds);
  p.read_events = cfg.get_count("--read-events", p.read_events);
  p.read_chunk = cfg.get_count("--chunk", p.read_chunk);
  if (cfg.has("--sync")) {
    auto sync = jr::parse_sync_mode(cfg.values.at("--sync"));
    if (!sync)
      throw usage_error("--sync: " + context_of(sync.error()));
    p.sync = *sync;
  }
  return p;
}

int run_journal(const settings& cfg) {
  auto p = make_params(cfg);
  temp_dir tmp{cfg.dir};
  if (!cfg.json)
    std::cerr << "cairn-bench journal in " << tmp.path() << '\n';
  figures f;
  for (auto batch : batch_sizes) {
    progress(cfg, "append, " + std::to_string(batch)
                    + " events/commit, raw lmdb and journal");
    f.appends.push_back(append_case(tmp, batch, p));
  }
  progress(cfg, "journal reads and raw lmdb cursor scans of "
                  + std::to_string(p.read_events)
                  + " events, in turn (filling first)");
  auto r = read_cases(tmp.sub("journal-read"), tmp.sub("raw-read"), p);
  f.read = r.read;
  f.view = r.view;
  f.log = r.log;
  f.scan = r.scan;
  f.scan_decode = r.scan_decode;
  remove_tree(tmp.sub("journal-read"));
  remove_tree(tmp.sub("raw-read"));
  if (cfg.json)
    print_json(p, f);
  else
    print_tables(p, f);
  return 0;
}

} // namespace

subcommand journal_subcommand() {
  return {"journal",
          "journal append and read+decode vs raw LMDB (targets 0.6x, 0.3x)",
          {{"--seconds", "S", "target seconds per side and read (default 1.5)"},
           {"--commits", "N", "commits per append case (default: calibrated)"},
           {"--rounds", "N", "raw/journal alternations per case (default 3)"},
           {"--read-events", "N", "events of the read test (default 1000000)"},
           {"--chunk", "N", "events per read_stream call (default 4096)"},
           {"--sync", "MODE", "full (default), no-meta-sync or none"}},
          run_journal};
}

} // namespace cairn::bench
