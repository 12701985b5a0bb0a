//! Tests for the dashboard: `App` behaviour (sorting, selection by identity,
//! trends, keys, connection text), rendering with ratatui's `TestBackend`
//! (snapshots at 80x24 and 160x45, a hostile process name) and the embedded
//! sampler thread over a fake process source.

use super::app::{Action, App, ConnectionState, SortColumn, Trend, utc_hms};
use super::{TuiInput, TuiRequest, ui};
use crate::config::{BandsConfig, Config, TuiConfig};
use crate::ipc::protocol::{ClientMessage, DaemonInfo, EventKind, EventNotice, ServerMessage};
use crate::model::EventRow;
use crate::model::{
    Band, MetricValue, ProcessKey, ProcessSamples, ProcessScore, ProcessState, Resource,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

const T0: f64 = 1_700_000_000.0;
const HOSTILE: &str = "evil\x1b[2J\u{202e}name";

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c))
}

fn mv(v: f64, low: f64, high: f64) -> Option<MetricValue> {
    Some(MetricValue {
        current: v,
        low,
        high,
    })
}

fn proc_(pid: u32, command: &str, score: f64, bands: &BandsConfig) -> ProcessScore {
    let mut p = ProcessScore::new(pid, 1_699_990_000_000 + u64::from(pid), command.into(), T0);
    p.score = score;
    p.band = bands.band_for(score);
    p.state = ProcessState::Sleeping;
    p
}

/// Five processes; `step` moves the scores so trends show.
fn processes(step: usize) -> Vec<ProcessScore> {
    let b = BandsConfig::default();
    let s = step as f64;

    let mut evil = proc_(31337, HOSTILE, 40.0 + 6.0 * s, &b);
    evil.state = ProcessState::Running;
    evil.priority = Some(20);
    evil.cgroup = Some("/user.slice/user-1000.slice/session-2.scope".into());
    evil.cpu = mv(97.5, 1.0, 99.0);
    evil.mem = mv(1.5e9, 1.2e9, 1.6e9);
    evil.mem_peak = mv(1.7e9, 1.7e9, 1.7e9);
    evil.faults = mv(123_456.0, 100_000.0, 123_456.0);
    evil.faults_rate = mv(250.0, 0.0, 900.0);
    evil.disk_io = mv(5.0e6, 5.0e6, 5.0e6);
    evil.disk_io_rate = mv(0.0, 0.0, 2048.0);
    evil.csw = mv(40_000.0, 39_000.0, 40_000.0);
    evil.csw_rate = mv(1500.0, 20.0, 1600.0);
    evil.threads = mv(4.0, 4.0, 6.0);
    evil.wakeups = mv(30_000.0, 29_000.0, 30_000.0);
    evil.wakeups_rate = mv(1200.0, 10.0, 1250.0);
    evil.runnable_time = mv(2.5e9, 2.0e9, 2.5e9);
    evil.runnable_time_rate = mv(3.0e8, 0.0, 5.0e8);
    evil.cpu_share = Some(48.75);
    evil.mem_share = Some(9.4);
    evil.disk_share = Some(0.0);
    evil.wakeups_share = Some(6.0);
    evil.disproportionality = 3.2;
    evil.dominant_resource = Resource::Cpu;
    evil.uid = Some(1000);
    evil.cpu_time_s = Some(3723.45 + s);

    let mut pg = proc_(1201, "postgres: checkpointer", 60.0 - 3.0 * s, &b);
    pg.state = ProcessState::DiskSleep;
    pg.cpu = mv(4.0, 1.0, 9.0);
    pg.mem = mv(2.0e8, 2.0e8, 2.1e8);
    pg.disk_io_rate = mv(1.8e8, 1.0e7, 2.0e8);
    pg.cpu_share = Some(2.0);
    pg.mem_share = Some(1.2);
    pg.disk_share = Some(85.0);
    pg.wakeups_share = Some(0.4);
    pg.dominant_resource = Resource::Disk;
    pg.disproportionality = 7.5;
    pg.uid = Some(70);
    pg.cpu_time_s = Some(65.5);

    let mut xorg = proc_(880, "Xorg", 31.0, &b);
    xorg.cpu = mv(12.0, 8.0, 15.0);
    xorg.gpu_time_rate = mv(4.5e8, 1.0e8, 6.0e8);
    xorg.cpu_share = Some(6.0);
    xorg.gpu_share = Some(45.0);
    xorg.mem_share = Some(0.9);
    xorg.dominant_resource = Resource::Gpu;
    xorg.uid = Some(0);
    xorg.cpu_time_s = Some(5400.0);

    let mut java = proc_(
        4100,
        "java -Xmx8g -jar /opt/very/long/path/to/some/enterprise/application-server.jar",
        47.0,
        &b,
    );
    java.cpu = mv(25.0, 20.0, 30.0);
    java.mem = mv(8.2e9, 8.0e9, 8.3e9);
    java.cpu_share = Some(12.5);
    java.mem_share = Some(51.0);
    java.disk_share = Some(0.2);
    java.wakeups_share = Some(1.1);
    java.dominant_resource = Resource::Memory;
    java.uid = Some(4242);
    java.cpu_time_s = Some(400_000.0);

    let mut kw = proc_(2, "kworker/u8:3", 3.0, &b);
    kw.state = ProcessState::Idle;
    kw.cpu_share = Some(0.3);
    kw.dominant_resource = Resource::Cpu;
    kw.uid = Some(0);
    kw.cpu_time_s = Some(0.0);

    vec![evil, pg, xorg, java, kw]
}

fn samples(step: usize, rogues: Vec<ProcessScore>) -> ProcessSamples {
    let mut rogues = rogues;
    rogues.sort_by(|a, b| b.score.total_cmp(&a.score));
    ProcessSamples {
        timestamp_s: T0 + step as f64 / 3.0,
        elapsed_ms: 4.2,
        process_count: 312,
        max_score: rogues.first().map_or(0.0, |p| p.score),
        rogues,
        groups: Vec::new(),
        system: None,
    }
}

fn info() -> DaemonInfo {
    DaemonInfo {
        pid: 4242,
        started_at: T0 - 3600.0,
        sample_interval: 1.0 / 3.0,
        sample_count: 10_000,
        boot_time: 1_699_990_000_000,
        open_events: 1,
        last_stall: None,
        health: Default::default(),
    }
}

fn notice(
    kind: EventKind,
    pid: u32,
    command: &str,
    band: Band,
    score: f64,
    at: f64,
) -> EventNotice {
    EventNotice {
        subject_kind: crate::model::SubjectKind::Process,
        group_key: None,
        members: Vec::new(),
        kind,
        event_key: u64::from(pid),
        pid,
        start_time: 1_699_990_000_000 + u64::from(pid),
        command: command.into(),
        band,
        score,
        dominant_resource: Resource::Cpu,
        at,
        reason: (kind == EventKind::Closed).then(|| "recovered".to_string()),
    }
}

/// A fixed user database: 4242 has no name (the USER column shows the uid).
fn test_users(uid: u32) -> Option<String> {
    match uid {
        0 => Some("root".into()),
        70 => Some("postgres".into()),
        1000 => Some("alice\x1b[31m".into()),
        _ => None,
    }
}

fn empty_app() -> App {
    let mut app = App::new(&TuiConfig::default(), &BandsConfig::default());
    app.set_user_lookup(test_users);
    app.set_time_format(utc_hms);
    app.set_clock(T0 + 3.0);
    app
}

/// A connected dashboard with eight samples of history and a few events.
/// The stored events the fixture starts with.
fn fixture_event_rows() -> Vec<EventRow> {
    vec![EventRow {
        subject_kind: crate::model::SubjectKind::Process,
        group_key: None,
        members: Vec::new(),
        id: 3,
        pid: 1201,
        start_time_ms: 1_699_990_001_201,
        command: "postgres: checkpointer".into(),
        boot_time_ms: 1_699_990_000_000,
        entry_time_s: T0 - 300.0,
        exit_time_s: Some(T0 - 120.0),
        entry_band: Band::Medium,
        peak_band: Band::High,
        peak_score: 61.5,
        peak_time_s: T0 - 200.0,
        dominant_resource: Resource::Disk,
        close_reason: Some(crate::model::CloseReason::Recovered),
        forensics_count: 0,
    }]
}

fn fixture() -> App {
    let mut app = empty_app();
    app.set_connection(ConnectionState::Connected);
    app.apply(&ServerMessage::InitialState {
        version: 1,
        schema_version: None,
        host: None,
        daemon: info(),
        history: (0..7).map(|i| samples(i, processes(i))).collect(),
    });
    app.apply(&ServerMessage::Events {
        events: fixture_event_rows(),
    });
    app.apply(&ServerMessage::Event {
        event: notice(
            EventKind::Opened,
            31337,
            HOSTILE,
            Band::Medium,
            46.0,
            T0 + 0.33,
        ),
    });
    app.apply(&ServerMessage::Event {
        event: notice(
            EventKind::Escalated,
            31337,
            HOSTILE,
            Band::Critical,
            76.0,
            T0 + 2.0,
        ),
    });
    app.apply(&ServerMessage::Sample {
        samples: samples(7, processes(7)),
    });
    app
}

fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| ui::draw(f, app)).unwrap();
    terminal
}

/// The screen as plain text, one line per row, trailing blanks trimmed.
fn screen(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut line = String::new();
        let mut skip = 0usize;
        for x in 0..buffer.area.width {
            let symbol = buffer[(x, y)].symbol();
            if skip > 0 {
                skip -= 1;
                continue;
            }
            line.push_str(symbol);
            skip = unicode_width(symbol).saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn unicode_width(s: &str) -> usize {
    ratatui::text::Span::raw(s).width()
}

fn pids_in_order(app: &App) -> Vec<u32> {
    app.rows().iter().map(|p| p.pid).collect()
}

// ----- App --------------------------------------------------------------------

#[test]
fn rows_start_sorted_by_score_descending() {
    let app = fixture();
    assert_eq!(app.sort(), (SortColumn::Score, false));
    let scores: Vec<f64> = app.rows().iter().map(|p| p.score).collect();
    let mut sorted = scores.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(scores, sorted);
    assert_eq!(app.rows()[0].pid, 31337);
}

#[test]
fn s_cycles_sort_columns_and_r_reverses() {
    let mut app = fixture();
    let mut seen = vec![app.sort().0];
    let n = SortColumn::ALL.len();
    for _ in 0..n {
        assert_eq!(app.handle_key(ch('s')), Action::None);
        seen.push(app.sort().0);
    }
    assert_eq!(&seen[..n], &SortColumn::ALL);
    assert_eq!(seen[n], SortColumn::Score, "wraps around");

    // cpu share, biggest first; then reversed.
    app.handle_key(ch('s'));
    assert_eq!(app.sort().0, SortColumn::Cpu);
    assert_eq!(pids_in_order(&app), vec![31337, 4100, 880, 1201, 2]);
    app.handle_key(ch('r'));
    assert_eq!(pids_in_order(&app), vec![2, 1201, 880, 4100, 31337]);
    app.handle_key(ch('S'));
    assert_eq!(pids_in_order(&app), vec![31337, 4100, 880, 1201, 2]);

    // GPU: only Xorg is measured; unknowns sort after every known value.
    app.handle_key(ch('s'));
    assert_eq!(app.rows()[0].pid, 880);

    // PID ascends by default; command too.
    while app.sort().0 != SortColumn::Pid {
        app.handle_key(ch('s'));
    }
    assert!(!app.sort_descending());
    assert_eq!(pids_in_order(&app), vec![2, 880, 1201, 4100, 31337]);
    // User ascends by name (a nameless uid by its number), ties by score.
    app.handle_key(ch('s'));
    assert_eq!(app.sort(), (SortColumn::User, false));
    assert_eq!(pids_in_order(&app), vec![4100, 31337, 1201, 880, 2]);
    app.handle_key(ch('s'));
    assert_eq!(app.sort().0, SortColumn::Command);
    assert_eq!(pids_in_order(&app), vec![880, 31337, 4100, 2, 1201]);
}

#[test]
fn selection_moves_with_keys_and_stays_in_bounds() {
    let mut app = fixture();
    assert_eq!(app.selected_index(), Some(0));
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Down));
    assert_eq!(app.selected_index(), Some(2));
    app.handle_key(key(KeyCode::Up));
    assert_eq!(app.selected_index(), Some(1));
    app.handle_key(key(KeyCode::End));
    assert_eq!(app.selected_index(), Some(4));
    app.handle_key(key(KeyCode::Down));
    assert_eq!(app.selected_index(), Some(4));
    app.handle_key(key(KeyCode::Home));
    assert_eq!(app.selected_index(), Some(0));
    app.handle_key(key(KeyCode::Up));
    assert_eq!(app.selected_index(), Some(0));
    app.set_page_size(3);
    app.handle_key(key(KeyCode::PageDown));
    assert_eq!(app.selected_index(), Some(3));
    app.handle_key(key(KeyCode::PageDown));
    assert_eq!(app.selected_index(), Some(4));
    app.handle_key(key(KeyCode::PageUp));
    assert_eq!(app.selected_index(), Some(1));
}

#[test]
fn selection_follows_the_process_not_the_row() {
    let mut app = fixture();
    // Select the postgres checkpointer.
    let row = app.rows().iter().position(|p| p.pid == 1201).unwrap();
    for _ in 0..row {
        app.handle_key(key(KeyCode::Down));
    }
    let pg = app.selected().unwrap().key();
    assert_eq!(pg.pid, 1201);

    // Next sample: postgres jumps to the top, everything else re-orders.
    let mut procs = processes(8);
    procs[1].score = 99.0;
    procs.reverse();
    app.apply(&ServerMessage::Sample {
        samples: samples(8, procs),
    });
    assert_eq!(app.rows()[0].pid, 1201);
    assert_eq!(app.selected().unwrap().key(), pg);
    assert_eq!(app.selected_index(), Some(0));

    // Same PID, new start time: a different process, so the selection does
    // not follow it; it stays on the same row.
    let mut procs = processes(9);
    procs[1].start_time_ms += 1;
    procs[1].score = 99.0;
    app.apply(&ServerMessage::Sample {
        samples: samples(9, procs),
    });
    assert_eq!(app.selected_index(), Some(0));
    assert_ne!(app.selected().unwrap().key(), pg);
}

#[test]
fn selection_survives_a_resort() {
    let mut app = fixture();
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Down));
    let chosen = app.selected().unwrap().key();
    for _ in 0..9 {
        app.handle_key(ch('s'));
        assert_eq!(app.selected().unwrap().key(), chosen);
        app.handle_key(ch('r'));
        assert_eq!(app.selected().unwrap().key(), chosen);
    }
}

#[test]
fn trend_arrows_compare_with_a_few_samples_ago() {
    let app = fixture();
    let k = |pid| {
        app.rows()
            .iter()
            .find(|p| p.pid == pid)
            .map(ProcessScore::key)
            .unwrap()
    };
    assert_eq!(app.trend(k(31337)), Trend::Rising);
    assert_eq!(app.trend(k(1201)), Trend::Falling);
    assert_eq!(app.trend(k(880)), Trend::Steady);
    assert_eq!(
        app.trend(ProcessKey {
            pid: 9,
            start_time_ms: 9
        }),
        Trend::Steady
    );
    assert_eq!(
        (
            Trend::Rising.arrow(),
            Trend::Falling.arrow(),
            Trend::Steady.arrow()
        ),
        ('↑', '↓', '→')
    );

    // A small wobble is steady; a single sample is steady.
    let mut app = empty_app();
    for (i, s) in [50.0, 51.0, 49.5, 50.5].into_iter().enumerate() {
        let b = BandsConfig::default();
        app.apply(&ServerMessage::Sample {
            samples: samples(i, vec![proc_(7, "x", s, &b)]),
        });
        assert_eq!(app.trend(app.rows()[0].key()), Trend::Steady);
    }
}

#[test]
fn history_is_bounded_and_kept_per_identity() {
    let mut app = empty_app();
    let b = BandsConfig::default();
    for i in 0..300 {
        app.apply(&ServerMessage::Sample {
            samples: samples(i, vec![proc_(7, "x", (i % 100) as f64, &b)]),
        });
    }
    let key = app.rows()[0].key();
    assert_eq!(app.score_history(key).len(), super::app::PROCESS_HISTORY);
    assert_eq!(app.score_history(key).last(), Some(&99.0));
    assert_eq!(app.max_score_history().len(), 300);
    // 300 samples, 1/3 s apart.
    assert!((app.sample_rate_hz().unwrap() - 3.0).abs() < 1e-6);
}

#[test]
fn initial_state_reseeds_history_and_counters() {
    let mut app = fixture();
    let key = app.rows()[0].key();
    assert_eq!(app.score_history(key).len(), 8);
    assert_eq!(app.daemon().unwrap().sample_count, 10_001);
    assert_eq!(app.daemon().unwrap().open_events, 2, "one opened event");
    app.apply(&ServerMessage::InitialState {
        version: 1,
        schema_version: None,
        host: None,
        daemon: info(),
        history: vec![samples(0, processes(0))],
    });
    assert_eq!(app.score_history(key).len(), 1);
    assert_eq!(app.daemon().unwrap().sample_count, 10_000);
    assert_eq!(app.max_score_history().len(), 1);
}

#[test]
fn events_prepend_and_cap_and_events_reply_replaces() {
    let mut app = fixture();
    let labels: Vec<&str> = app.events().iter().map(|e| e.label).collect();
    assert_eq!(labels, vec!["escalated", "opened", "closed"]);
    for i in 0..20 {
        app.apply(&ServerMessage::Event {
            event: notice(
                EventKind::Forensics,
                5,
                "x",
                Band::High,
                60.0,
                T0 + f64::from(i),
            ),
        });
    }
    assert_eq!(app.events().len(), TuiConfig::default().events_shown);
    assert_eq!(app.events()[0].at, T0 + 19.0);
    app.apply(&ServerMessage::Events { events: vec![] });
    assert!(app.events().is_empty() && app.events_loaded());
}

#[test]
fn help_toggles_and_esc_closes_it_before_quitting() {
    let mut app = fixture();
    assert!(!app.show_help());
    assert_eq!(app.handle_key(ch('?')), Action::None);
    assert!(app.show_help());
    assert_eq!(app.handle_key(ch('?')), Action::None);
    assert!(!app.show_help());
    app.handle_key(ch('?'));
    assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::None);
    assert!(!app.show_help());
    // Esc never quits: with nothing open it says so.
    assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::None);
    assert!(
        app.status()
            .is_some_and(|s| s.contains("nothing to cancel"))
    );
}

#[test]
fn quit_keys() {
    let mut app = fixture();
    assert_eq!(app.handle_key(ch('q')), Action::Quit);
    assert_eq!(app.handle_key(key(KeyCode::F(10))), Action::Quit);
    assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::None);
    assert_eq!(
        app.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Action::Quit
    );
    // A plain `c` is not a quit (it says it does nothing); a key release does nothing.
    assert_eq!(app.handle_key(ch('c')), Action::None);
    assert_eq!(app.status(), Some("key c does nothing — ? for help"));
    let mut release = ch('q');
    release.kind = KeyEventKind::Release;
    assert_eq!(app.handle_key(release), Action::None);
}

#[test]
fn e_requests_events_only_from_a_daemon() {
    let mut app = fixture();
    assert_eq!(app.handle_key(ch('e')), Action::RequestEvents);
    app.set_connection(ConnectionState::Embedded);
    assert_eq!(app.handle_key(ch('e')), Action::None);
    let req = TuiRequest::GetEvents { limit: 8 };
    assert_eq!(
        req.to_client_message(),
        Some(ClientMessage::GetEvents {
            limit: Some(8),
            open_only: false
        })
    );
}

#[test]
fn connection_texts() {
    let mut app = empty_app();
    assert_eq!(app.connection_text(), "connecting to the daemon…");
    app.set_connection(ConnectionState::Connected);
    assert_eq!(app.connection_text(), "connected");
    app.apply(&ServerMessage::InitialState {
        version: 1,
        schema_version: None,
        host: None,
        daemon: info(),
        history: vec![],
    });
    assert_eq!(app.connection_text(), "daemon pid 4242");
    app.set_connection(ConnectionState::Embedded);
    assert_eq!(
        app.connection_text(),
        "embedded sampler (no daemon running)"
    );
    app.set_connection(ConnectionState::disconnected(
        "connection reset",
        std::time::Duration::from_millis(1500),
    ));
    assert_eq!(app.connection_text(), "disconnected — retrying in 2s");
    assert_eq!(app.status(), Some("lost the daemon: connection reset"));
    app.set_connection(ConnectionState::Connected);
    assert_eq!(app.status(), None, "reconnecting clears the status");
}

#[test]
fn daemon_errors_show_in_the_status_line() {
    let mut app = fixture();
    app.apply(&ServerMessage::Error {
        message: "bad\x1b[31m request".into(),
    });
    assert_eq!(app.status(), Some("daemon error: bad\x1b[31m request"));
    let text = screen(&render(&app, 100, 30));
    assert!(
        text.contains("daemon error: bad\\u{1b}[31m request"),
        "{text}"
    );
}

#[test]
fn colours_come_from_config() {
    let config = TuiConfig {
        color_critical: "#ff8800".into(),
        color_low: "lightblue".into(),
        ..TuiConfig::default()
    };
    let app = App::new(&config, &BandsConfig::default());
    use ratatui::style::Color;
    assert_eq!(app.band_color(Band::Critical), Color::Rgb(0xff, 0x88, 0x00));
    assert_eq!(app.band_color(Band::Low), Color::LightBlue);
    assert_eq!(app.band_color(Band::Elevated), Color::Yellow);
}

// ----- rendering ------------------------------------------------------------------

fn assert_hostile_name_escaped(terminal: &Terminal<TestBackend>) {
    let buffer = terminal.backend().buffer();
    for cell in buffer.content() {
        let s = cell.symbol();
        assert!(
            !s.chars()
                .any(|c| c == '\x1b' || c == '\u{202e}' || c.is_control()),
            "raw control or bidi character in a cell: {s:?}"
        );
    }
    let text = screen(terminal);
    assert!(text.contains("evil\\u{1b}[2J"), "{text}");
}

#[test]
fn dashboard_80x24() {
    let terminal = render(&fixture(), 80, 24);
    assert_hostile_name_escaped(&terminal);
    let text = screen(&terminal);
    assert!(text.contains("daemon pid 4242"), "{text}");
    assert!(text.contains("31337"));
    insta::assert_snapshot!("dashboard_80x24", text);
}

#[test]
fn dashboard_160x45() {
    let terminal = render(&fixture(), 160, 45);
    assert_hostile_name_escaped(&terminal);
    let text = screen(&terminal);
    assert!(text.contains("evil\\u{1b}[2J\\u{202e}name"), "{text}");
    for col in [
        "PID", "USER", "SCORE", "CPU", "GPU", "MEM", "TIME+", "DISK", "DOMINANT",
    ] {
        assert!(text.contains(col), "{col} missing:\n{text}");
    }
    for metric in ["cpu", "mem peak", "disk io/s", "runnable/s"] {
        assert!(text.contains(metric), "{metric} missing:\n{text}");
    }
    // Units people expect: CPU% of one core (the spinner reads 97.5, not its
    // 48.75 share of a two-core machine), memory in bytes, shares labelled.
    let evil = text
        .lines()
        .find(|l| l.contains("▸↑   31337"))
        .unwrap_or_default();
    assert!(evil.contains("97.5") && evil.contains("1.4G"), "{evil}");
    assert!(text.contains("score shares"), "{text}");
    // The selected process has no GPU time: on Linux the row is left out.
    if cfg!(target_os = "linux") {
        assert!(!text.contains("gpu time/s"), "{text}");
    }
    insta::assert_snapshot!("dashboard_160x45", text);
}

#[test]
fn help_overlay_80x24() {
    let mut app = fixture();
    app.handle_key(ch('?'));
    let text = screen(&render(&app, 80, 24));
    assert!(text.contains("toggle this help"), "{text}");
    insta::assert_snapshot!("help_80x24", text);
}

#[test]
fn embedded_and_disconnected_headers() {
    let mut app = fixture();
    app.set_connection(ConnectionState::Embedded);
    let text = screen(&render(&app, 80, 24));
    assert!(
        text.contains("embedded sampler (no daemon running)"),
        "{text}"
    );

    app.set_connection(ConnectionState::disconnected(
        "daemon went away",
        std::time::Duration::from_secs(2),
    ));
    let text = screen(&render(&app, 80, 24));
    assert!(text.contains("disconnected — retrying in 2s"), "{text}");
    assert!(text.contains("lost the daemon: daemon went away"), "{text}");
}

#[test]
fn empty_dashboard_waits_for_data() {
    let app = empty_app();
    let text = screen(&render(&app, 80, 24));
    assert!(text.contains("waiting for the first sample"), "{text}");
    assert!(text.contains("connecting to the daemon"), "{text}");
    insta::assert_snapshot!("empty_80x24", text);
}

#[test]
fn any_size_renders_without_panicking() {
    let mut app = fixture();
    app.handle_key(ch('?'));
    let empty = empty_app();
    for w in (1..=200).step_by(7) {
        for h in (1..=60).step_by(5) {
            render(&app, w, h);
            render(&empty, w, h);
        }
    }
}

#[test]
fn narrow_table_drops_columns_but_keeps_the_essentials() {
    let text = screen(&render(&fixture(), 80, 24));
    let header = text.lines().find(|l| l.contains("PID")).unwrap();
    assert!(
        header.contains("SCORE") && header.contains("COMMAND"),
        "{header}"
    );
    // BAND goes first (the score is already in the band's colour), then
    // WAKE/s, GPU% and DISK/s; htop's USER and TIME+ stay.
    assert!(!header.contains("BAND"), "{header}");
    assert!(
        !header.contains("GPU") && !header.contains("WAKE"),
        "{header}"
    );
    assert!(
        header.contains("USER") && header.contains("TIME+") && header.contains("DOMINANT"),
        "{header}"
    );
    // Narrower still: the lower-priority shares go, the essentials stay.
    let text = screen(&render(&fixture(), 50, 24));
    let header = text.lines().find(|l| l.contains("PID")).unwrap();
    assert!(
        header.contains("SCORE") && header.contains("COMMAND"),
        "{header}"
    );
    assert!(header.contains("CPU") && header.contains("MEM"), "{header}");
    assert!(!header.contains("GPU"), "{header}");
    // The sort column stays, whatever its priority.
    let mut app = fixture();
    for (key, title) in [('T', "TIME+▼"), ('s', "DISK/s▼")] {
        app.handle_key(ch(key));
        let text = screen(&render(&app, 50, 24));
        let header = text.lines().find(|l| l.contains("PID")).unwrap_or("");
        assert!(header.contains(title), "{title}: {header}");
        let area = ratatui::layout::Rect::new(0, 0, 50, 24);
        let y = text.lines().position(|l| l.contains("PID")).unwrap_or(0);
        let x = header[..header.find(title).unwrap_or(0)].chars().count();
        assert_eq!(
            ui::hit(area, &app, x as u16 + 1, y as u16),
            ui::Hit::Header(app.sort().0),
            "the click finds the kept column"
        );
    }
}

// ----- embedded sampler ---------------------------------------------------------------

struct FakeSource {
    tick: u64,
}

impl crate::platform::ProcessSource for FakeSource {
    fn system(&mut self) -> crate::platform::SystemInfo {
        crate::platform::SystemInfo {
            cpu_count: 2,
            mem_total_bytes: Some(1 << 33),
            boot_time_ms: 1_699_990_000_000,
        }
    }
    fn scan(&mut self, out: &mut Vec<crate::platform::RawProcess>) {
        self.tick += 1;
        let mut hog = crate::platform::RawProcess::new(77, 1_700_000_000_000, "hog".into());
        hog.cpu_time_ns = Some(self.tick * 1_000_000_000);
        hog.resident_bytes = Some(1 << 20);
        *out = vec![hog];
    }
    fn deepen(&mut self, _raw: &mut crate::platform::RawProcess, _now: f64) {}
}

#[test]
fn embedded_sampler_announces_itself_then_streams_samples() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut config = Config::default();
    // Rates need a 50 ms window (collect::MIN_RATE_WINDOW_S): one interval of it.
    config.system.sample_interval = 0.05;
    let (tx, rx) = std::sync::mpsc::sync_channel(32);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let thread_stop = std::sync::Arc::clone(&stop);
    let handle = std::thread::spawn(move || {
        super::embedded::sample_loop(
            FakeSource { tick: 0 },
            config,
            &tx,
            &thread_stop,
            &super::embedded::Interval::default(),
        )
    });
    let wait = std::time::Duration::from_secs(10);
    assert_eq!(
        rx.recv_timeout(wait).unwrap(),
        TuiInput::Connection(ConnectionState::Embedded)
    );
    let mut app = empty_app();
    match rx.recv_timeout(wait).unwrap() {
        TuiInput::Message(msg @ ServerMessage::InitialState { .. }) => {
            if let ServerMessage::InitialState { daemon, .. } = &msg {
                assert_eq!(daemon.pid, std::process::id());
                assert_eq!(daemon.sample_interval, 0.05);
            }
            app.apply(&msg);
        }
        other => panic!("expected initial_state, got {other:?}"),
    }
    for _ in 0..3 {
        match rx.recv_timeout(wait).unwrap() {
            TuiInput::Message(msg @ ServerMessage::Sample { .. }) => app.apply(&msg),
            other => panic!("expected a sample, got {other:?}"),
        }
    }
    assert_eq!(app.rows()[0].pid, 77);
    assert!(
        app.rows()[0].cpu.is_some(),
        "primed: rates from the first sample"
    );
    stop.store(true, Ordering::SeqCst);
    handle.join().unwrap();
}

#[test]
fn embedded_sampler_stops_when_the_dashboard_hangs_up() {
    use std::sync::atomic::AtomicBool;
    let mut config = Config::default();
    config.system.sample_interval = 0.01;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    drop(rx);
    let stop = AtomicBool::new(false);
    // Returns (rather than looping forever) because nobody listens.
    super::embedded::sample_loop(
        FakeSource { tick: 0 },
        config,
        &tx,
        &stop,
        &super::embedded::Interval::default(),
    );
}

#[test]
fn non_finite_numbers_render_without_panicking() {
    let mut app = fixture();
    let mut procs = processes(8);
    for p in &mut procs {
        p.score = f64::NAN;
        p.cpu_share = Some(f64::INFINITY);
        p.disproportionality = f64::NEG_INFINITY;
        p.cpu = mv(f64::NAN, f64::NEG_INFINITY, f64::INFINITY);
        p.mem = mv(f64::INFINITY, 0.0, f64::NAN);
    }
    let mut s = samples(8, procs);
    s.max_score = f64::NAN;
    app.apply(&ServerMessage::Sample { samples: s });
    render(&app, 160, 45);
    render(&app, 80, 24);
    for _ in 0..9 {
        app.handle_key(ch('s'));
        render(&app, 100, 30);
    }
    let mut s = samples(9, processes(9));
    s.max_score = 1e300;
    app.apply(&ServerMessage::Sample { samples: s });
    render(&app, 160, 45);
    render(&app, 80, 24);
}

// ----- every process ----------------------------------------------------------

/// `n` user processes and `n / 10` kernel threads, scores spread out.
fn many(n: u32) -> Vec<ProcessScore> {
    let b = BandsConfig::default();
    let mut v: Vec<ProcessScore> = (0..n)
        .map(|i| {
            let mut p = proc_(10_000 + i, &format!("worker-{i}"), f64::from(i % 97), &b);
            p.mem = mv(1e6 + f64::from(i), 0.0, 0.0);
            p.mem_share = Some(f64::from(i) / f64::from(n));
            p
        })
        .collect();
    for i in 0..n / 10 {
        let mut k = proc_(3 + i, &format!("[kworker/{i}:0]"), 0.0, &b);
        k.mem = mv(0.0, 0.0, 0.0);
        v.push(k);
    }
    v
}

#[test]
fn every_process_is_listed_sorted_and_reachable() {
    let mut app = empty_app();
    app.set_connection(ConnectionState::Connected);
    app.apply(&ServerMessage::Subscribed {
        full_table: true,
        max_processes: 10_000,
        compact: true,
    });
    app.apply(&ServerMessage::Sample {
        samples: samples(0, many(5000)),
    });
    assert_eq!(app.rows().len(), 5000, "kernel threads hidden by default");
    assert!(app.full_table());
    // Sorting by memory sorts all of them, not a top 20.
    app.handle_key(ch('s'));
    app.handle_key(ch('s'));
    app.handle_key(ch('s'));
    assert_eq!(app.sort().0, SortColumn::Mem);
    assert_eq!(app.rows()[0].pid, 10_000 + 4999);
    assert_eq!(app.rows()[4999].pid, 10_000);
    app.set_page_size(30);
    app.handle_key(key(KeyCode::End));
    assert_eq!(app.selected_index(), Some(4999));
    assert_eq!(app.offset(), 4970, "scrolled so the last row is visible");
    app.handle_key(key(KeyCode::PageUp));
    assert_eq!(app.selected_index(), Some(4969));
    assert_eq!(app.offset(), 4969);
    app.handle_key(key(KeyCode::Home));
    assert_eq!((app.selected_index(), app.offset()), (Some(0), 0));
    // K shows the kernel threads, K again hides them.
    app.handle_key(ch('K'));
    assert_eq!(app.rows().len(), 5500);
    assert!(app.status().unwrap_or("").contains("kernel threads shown"));
    app.handle_key(ch('K'));
    assert_eq!(app.rows().len(), 5000);
    // Only the visible rows are drawn, and the title says how many there are.
    let text = screen(&render(&app, 120, 40));
    assert!(text.contains("5000 of 312"), "{text}");
    assert!(text.contains("kernel threads hidden"), "{text}");
}

#[test]
fn the_dashboards_own_process_is_marked() {
    let mut app = fixture();
    app.set_own_pid(880);
    let text = screen(&render(&app, 160, 45));
    let line = text
        .lines()
        .find(|l| l.contains("Xorg"))
        .unwrap_or_default()
        .to_string();
    assert!(line.contains("(self)"), "{text}");
}

// ----- connection honesty -------------------------------------------------------

#[test]
fn a_lost_daemon_marks_rows_stale_at_once_and_fallback_says_so() {
    let mut app = fixture();
    assert!(!app.stale());
    app.set_connection(ConnectionState::disconnected(
        "daemon closed",
        std::time::Duration::from_secs(1),
    ));
    assert!(app.stale(), "stale as soon as the daemon is lost");
    let text = screen(&render(&app, 120, 40));
    assert!(text.contains("STALE"), "{text}");
    assert!(text.contains("disconnected"), "{text}");
    // The embedded sampler takes over: the header says so, fresh rows are live.
    app.set_connection(ConnectionState::Embedded);
    assert!(app.connection_text().contains("daemon lost"));
    app.apply(&ServerMessage::InitialState {
        version: 1,
        schema_version: None,
        host: None,
        daemon: info(),
        history: vec![],
    });
    app.apply(&ServerMessage::Sample {
        samples: samples(9, processes(9)),
    });
    assert!(!app.stale());
    assert!(!screen(&render(&app, 120, 40)).contains("STALE"));
    // The daemon is back.
    app.set_connection(ConnectionState::Connected);
    assert_eq!(app.connection_text(), "daemon pid 4242");
}

/// A 3 s stop of the monitor from `start_s`, over (`end_s`) or going on.
fn stopped_stall(start_s: f64, end_s: Option<f64>, verdict: &str) -> crate::model::Stall {
    use crate::model::{Stall, StallCause, StallKind};
    Stall {
        kind: StallKind::Scheduling,
        start_s,
        end_s,
        duration_s: 3.0,
        suspended_s: 0.0,
        cause: Some(StallCause::Stopped),
        pressure_kind: None,
        peak_pressure_pct: None,
        window_pressure_pct: None,
        verdict: verdict.into(),
        holders: Vec::new(),
        victims: Vec::new(),
        pid: None,
        command: None,
    }
}

#[test]
fn stalls_show_in_the_header_and_the_events_panel() {
    let mut app = fixture();
    let now = app.latest().map_or(0.0, |l| l.timestamp_s);
    let stall = stopped_stall(
        now - 5.0,
        Some(now - 2.0),
        "monitor stalled 3.0 s — the monitor was stopped \u{1b}[2J",
    );
    app.apply(&ServerMessage::Stall { stall });
    assert_eq!(app.events().front().map(|e| e.label), Some("stall"));
    let text = screen(&render(&app, 140, 40));
    assert!(
        text.contains("last stall 2s ago: 3.0s scheduling"),
        "{text}"
    );
    assert!(text.contains("monitor stalled 3.0 s"), "{text}");
    assert!(!text.contains('\u{1b}'), "escaped");
}

// ----- keymap and htop habits ----------------------------------------------------

mod keys {
    use super::*;
    use crate::model::{GroupKind, GroupMetrics, GroupScore};
    use crate::sys::Sig;
    use crate::tui::app::{EventRef, Pane, PromptKind, View};
    use crate::tui::keymap::{Command, Mode, command_for};

    fn type_str(app: &mut App, text: &str) {
        for c in text.chars() {
            app.handle_key(ch(c));
        }
    }

    #[test]
    fn the_keymap_names_every_htop_key() {
        let n = |k: KeyEvent| command_for(Mode::Normal, k);
        assert_eq!(n(ch('/')), Command::StartSearch);
        assert_eq!(n(key(KeyCode::F(3))), Command::SearchNext);
        assert_eq!(n(ch('\\')), Command::StartFilter);
        assert_eq!(n(key(KeyCode::F(4))), Command::StartFilter);
        assert_eq!(n(ch('t')), Command::ToggleTree);
        assert_eq!(n(key(KeyCode::F(5))), Command::ToggleTree);
        assert_eq!(n(ch('g')), Command::CycleGrouping);
        assert_eq!(n(key(KeyCode::F(6))), Command::SortNext);
        assert_eq!(n(ch('>')), Command::SortNext);
        assert_eq!(n(ch('<')), Command::SortPrev);
        assert_eq!(n(ch('P')), Command::SortBy(SortColumn::Cpu));
        assert_eq!(n(ch('M')), Command::SortBy(SortColumn::Mem));
        assert_eq!(n(ch('T')), Command::SortBy(SortColumn::CpuTime));
        assert_eq!(n(ch('k')), Command::StartKill);
        assert_eq!(n(key(KeyCode::F(9))), Command::StartKill);
        assert_eq!(n(ch('Z')), Command::Pause);
        assert_eq!(n(ch(' ')), Command::Pause);
        assert_eq!(n(ch('+')), Command::SlowerSampling);
        assert_eq!(n(ch('-')), Command::FasterSampling);
        assert_eq!(n(key(KeyCode::F(10))), Command::Quit);
        assert_eq!(n(key(KeyCode::Esc)), Command::Cancel);
        assert_eq!(n(ch('x')), Command::Unknown("x".into()));
        // In a prompt, letters are text and Esc still cancels.
        assert_eq!(command_for(Mode::Prompt, ch('q')), Command::Type('q'));
        assert_eq!(
            command_for(Mode::Prompt, key(KeyCode::Esc)),
            Command::Cancel
        );
        assert_eq!(command_for(Mode::Confirm, ch('y')), Command::Yes);
        assert_eq!(command_for(Mode::Confirm, ch('n')), Command::Cancel);
    }

    #[test]
    fn search_is_incremental_and_f3_finds_the_next_match() {
        let mut app = fixture();
        app.handle_key(ch('/'));
        assert!(app.prompt().is_some_and(|p| p.kind == PromptKind::Search));
        type_str(&mut app, "xo");
        assert_eq!(app.selected().map(|p| p.pid), Some(880), "Xorg, as typed");
        app.handle_key(key(KeyCode::Enter));
        assert!(app.prompt().is_none());
        // Two processes hold "o": F3 goes from one to the other and wraps.
        app.handle_key(ch('/'));
        type_str(&mut app, "o");
        app.handle_key(key(KeyCode::Enter));
        let first = app.selected().map(|p| p.pid);
        app.handle_key(key(KeyCode::F(3)));
        let second = app.selected().map(|p| p.pid);
        assert_ne!(first, second);
        // A PID typed whole selects its process before commands holding
        // its digits: from the top row, whose hostile name's "\x1b[2J" holds
        // a "2", kworker (PID 2) is selected; F3 goes on.
        app.handle_key(key(KeyCode::Home));
        assert_eq!(app.selected().map(|p| p.pid), Some(31337));
        app.handle_key(ch('/'));
        type_str(&mut app, "2");
        assert_eq!(app.selected().map(|p| p.pid), Some(2), "kworker, PID 2");
        app.handle_key(key(KeyCode::Enter));
        app.handle_key(key(KeyCode::F(3)));
        assert_eq!(
            app.selected().map(|p| p.pid),
            Some(31337),
            "F3: the next match"
        );
        app.handle_key(ch('/'));
        type_str(&mut app, "nothing-has-this");
        assert!(app.status().is_some_and(|s| s.contains("no match")));
        // Esc closes the prompt and does not quit.
        assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::None);
        assert!(app.prompt().is_none());
    }

    #[test]
    fn filter_narrows_the_rows_by_command_or_cgroup_and_empty_clears() {
        let mut app = fixture();
        let all = app.rows().len();
        app.handle_key(ch('\\'));
        type_str(&mut app, "POSTGRES");
        assert_eq!(pids_in_order(&app), vec![1201]);
        app.handle_key(key(KeyCode::Enter));
        assert_eq!(app.filter(), "POSTGRES");
        assert_eq!(pids_in_order(&app), vec![1201]);
        // By cgroup.
        app.handle_key(key(KeyCode::F(4)));
        for _ in 0.."POSTGRES".len() {
            app.handle_key(key(KeyCode::Backspace));
        }
        type_str(&mut app, "session-2");
        assert_eq!(pids_in_order(&app), vec![31337]);
        app.handle_key(key(KeyCode::Enter));
        // Esc in the prompt puts the filter back as it was.
        app.handle_key(ch('\\'));
        type_str(&mut app, "zzz");
        assert!(app.rows().is_empty());
        app.handle_key(key(KeyCode::Esc));
        assert_eq!(app.filter(), "session-2");
        assert_eq!(pids_in_order(&app), vec![31337]);
        // Empty clears.
        app.handle_key(ch('\\'));
        for _ in 0.."session-2".len() {
            app.handle_key(key(KeyCode::Backspace));
        }
        app.handle_key(key(KeyCode::Enter));
        assert_eq!(app.rows().len(), all);
    }

    #[test]
    fn sort_shortcuts_and_angle_brackets() {
        let mut app = fixture();
        app.handle_key(ch('M'));
        assert_eq!(app.sort(), (SortColumn::Mem, false));
        let mems: Vec<f64> = app
            .rows()
            .iter()
            .filter_map(|p| p.mem.map(|m| m.current))
            .collect();
        assert!(
            mems.windows(2).all(|w| w[0] >= w[1]),
            "biggest first: {mems:?}"
        );
        app.handle_key(ch('M'));
        assert_eq!(app.sort(), (SortColumn::Mem, true), "again reverses");
        app.handle_key(ch('P'));
        assert_eq!(app.sort().0, SortColumn::Cpu);
        app.handle_key(ch('<'));
        assert_eq!(app.sort().0, SortColumn::Score);
        app.handle_key(ch('<'));
        assert_eq!(app.sort().0, SortColumn::Started);
        app.handle_key(ch('>'));
        assert_eq!(app.sort().0, SortColumn::Score);
    }

    #[test]
    fn the_kill_menu_confirms_then_asks_for_the_signal() {
        let mut app = fixture();
        let pid = app.selected().map(|p| p.pid).unwrap();
        app.handle_key(ch('k'));
        assert_eq!(app.mode(), Mode::SignalMenu);
        app.handle_key(key(KeyCode::Down));
        app.handle_key(key(KeyCode::Enter));
        assert_eq!(app.mode(), Mode::Confirm);
        // Anything but y is not a yes; Esc cancels without quitting.
        assert_eq!(app.handle_key(ch('x')), Action::None);
        assert_eq!(app.mode(), Mode::Confirm);
        match app.handle_key(ch('y')) {
            Action::Signal { pid: p, sig, .. } => {
                assert_eq!((p, sig), (pid, Sig::Kill));
            }
            other => panic!("expected a signal, got {other:?}"),
        }
        assert_eq!(app.mode(), Mode::Normal);
        app.handle_key(key(KeyCode::F(9)));
        assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::None);
        assert_eq!(app.mode(), Mode::Normal);
        app.signal_result(
            1,
            "init",
            Sig::Term,
            Err(std::io::Error::from_raw_os_error(libc::EPERM)),
        );
        assert!(app.status().is_some_and(|s| s.contains("not permitted")));
    }

    #[test]
    fn pause_holds_samples_until_resumed() {
        let mut app = fixture();
        app.handle_key(ch('Z'));
        assert!(app.paused());
        let before = app.latest().map(|s| s.timestamp_s);
        app.apply(&ServerMessage::Sample {
            samples: samples(40, processes(8)),
        });
        assert_eq!(app.latest().map(|s| s.timestamp_s), before);
        app.handle_key(ch(' '));
        assert!(!app.paused());
        assert_ne!(app.latest().map(|s| s.timestamp_s), before);
    }

    #[test]
    fn interval_changes_only_in_embedded_mode() {
        let mut app = fixture();
        assert_eq!(app.handle_key(ch('+')), Action::None);
        assert!(
            app.status()
                .is_some_and(|s| s.contains("fixed by the daemon"))
        );
        app.set_connection(ConnectionState::Embedded);
        assert_eq!(app.handle_key(ch('+')), Action::SetInterval { secs: 0.5 });
        assert_eq!(
            app.handle_key(ch('-')),
            Action::SetInterval { secs: 1.0 / 3.0 }
        );
        assert_eq!(app.handle_key(ch('-')), Action::SetInterval { secs: 0.25 });
    }

    fn family() -> Vec<ProcessScore> {
        let b = BandsConfig::default();
        let mut v = Vec::new();
        for (pid, ppid, cpu) in [
            (1, None, 0.0),
            (100, Some(1), 5.0),
            (101, Some(100), 20.0),
            (102, Some(100), 30.0),
        ] {
            let mut p = proc_(pid, &format!("proc{pid}"), cpu, &b);
            p.ppid = ppid;
            p.cpu = mv(cpu, cpu, cpu);
            p.mem = mv(1e6, 1e6, 1e6);
            v.push(p);
        }
        v
    }

    #[test]
    fn tree_view_indents_children_and_folds_with_sums() {
        let mut app = empty_app();
        app.set_connection(ConnectionState::Embedded);
        app.apply(&ServerMessage::Sample {
            samples: samples(0, family()),
        });
        app.handle_key(ch('t'));
        assert_eq!(app.view(), View::Tree);
        assert_eq!(pids_in_order(&app), vec![1, 100, 102, 101]);
        let depths: Vec<usize> = app.tree().iter().map(|t| t.depth).collect();
        assert_eq!(depths, vec![0, 1, 2, 2]);
        // Fold 100: its children go, its row carries the sums.
        app.handle_key(key(KeyCode::Home));
        app.handle_key(key(KeyCode::Down));
        app.handle_key(key(KeyCode::Enter));
        assert_eq!(pids_in_order(&app), vec![1, 100]);
        let t = &app.tree()[1];
        assert!(t.folded);
        assert_eq!(t.descendants, 2);
        assert_eq!(t.subtree_cpu, Some(55.0));
        assert_eq!(t.subtree_mem, Some(3e6));
        app.handle_key(key(KeyCode::Enter));
        assert_eq!(app.rows().len(), 4);
        // A PID searched for under a folded process unfolds the way to it.
        app.handle_key(key(KeyCode::Home));
        app.handle_key(key(KeyCode::Enter));
        assert_eq!(pids_in_order(&app), vec![1]);
        app.handle_key(ch('/'));
        type_str(&mut app, "101");
        app.handle_key(key(KeyCode::Enter));
        assert_eq!(app.selected().map(|p| p.pid), Some(101));
        assert_eq!(pids_in_order(&app), vec![1, 100, 102, 101]);
        // Filtered out, it is named, not confused with a command's digits.
        app.handle_key(ch('\\'));
        type_str(&mut app, "proc102");
        app.handle_key(key(KeyCode::Enter));
        app.handle_key(ch('/'));
        type_str(&mut app, "101");
        assert!(
            app.status()
                .is_some_and(|s| s.contains("pid 101 is not shown") && s.contains("filter")),
            "{:?}",
            app.status()
        );
        app.handle_key(key(KeyCode::Esc));
        app.handle_key(key(KeyCode::F(5)));
        assert_eq!(app.view(), View::Process);
    }

    #[test]
    fn g_cycles_process_tree_cgroup_app_with_group_rows() {
        let mut app = empty_app();
        app.set_connection(ConnectionState::Embedded);
        let mut s = samples(0, family());
        let g = |kind, key: &str, score| GroupScore {
            kind,
            key: key.into(),
            name: key.into(),
            member_count: 3,
            top_members: vec![101],
            worst_member_score: score,
            metrics: GroupMetrics::default(),
            score,
            band: Band::Low,
            dominant_resource: Resource::Cpu,
            cpu_share: None,
            gpu_share: None,
            mem_share: None,
            disk_share: None,
            wakeups_share: None,
        };
        s.groups = vec![
            g(GroupKind::Tree, "100:1", 50.0),
            g(GroupKind::Cgroup, "nginx.service", 20.0),
            g(GroupKind::Cgroup, "sshd.service", 10.0),
            g(GroupKind::App, "/usr/bin/python3", 30.0),
        ];
        app.apply(&ServerMessage::Sample { samples: s });
        let views: Vec<View> = (0..4)
            .map(|_| {
                app.handle_key(ch('g'));
                app.view()
            })
            .collect();
        assert_eq!(
            views,
            vec![View::Tree, View::Cgroup, View::App, View::Process]
        );
        app.handle_key(ch('g'));
        app.handle_key(ch('g'));
        let names: Vec<&str> = app.group_rows().iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, vec!["nginx.service", "sshd.service"]);
        assert!(app.selected().is_none(), "no process in a group view");
        app.handle_key(key(KeyCode::Down));
        assert_eq!(app.selected_group_index(), Some(1));
        app.handle_key(ch('k'));
        assert!(
            app.kill_menu().is_none() && app.status().is_some_and(|s| s.contains("one process"))
        );
    }

    #[test]
    fn tab_enter_opens_the_selected_event_and_esc_closes_the_panel() {
        let mut app = fixture();
        app.handle_key(key(KeyCode::Tab));
        assert_eq!(app.focus(), Pane::Events);
        select_event(&mut app, &EventRef::Stored { id: 3 });
        assert_eq!(
            app.handle_key(key(KeyCode::Enter)),
            Action::OpenEvent(EventRef::Stored { id: 3 })
        );
        app.open_panel("Event 3", "event 3  pid 1201\nline two");
        assert_eq!(app.mode(), Mode::Panel);
        assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::None);
        assert!(app.panel().is_none());
        // A live notice refers to its process; a stall to its start.
        app.apply(&ServerMessage::Event {
            event: notice(EventKind::Opened, 77, "x", Band::Medium, 50.0, T0),
        });
        app.handle_key(key(KeyCode::Home));
        assert!(matches!(
            app.handle_key(key(KeyCode::Enter)),
            Action::OpenEvent(EventRef::Process { pid: 77, .. })
        ));
        // Esc leaves the events pane, then says nothing is open; never quits.
        assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::None);
        assert_eq!(app.focus(), Pane::Table);
    }

    /// Move the events pane's selection down from the top to `src`'s line.
    fn select_event(app: &mut App, src: &EventRef) {
        app.handle_key(key(KeyCode::Home));
        let i = app.events().iter().position(|e| e.source == *src).unwrap();
        for _ in 0..i {
            app.handle_key(key(KeyCode::Down));
        }
    }

    #[test]
    fn the_selected_event_stays_selected_as_new_lines_arrive() {
        let mut app = fixture();
        app.handle_key(key(KeyCode::Tab));
        let stored = EventRef::Stored { id: 3 };
        let at = |app: &App| {
            app.events()
                .get(app.event_selected())
                .map(|e| e.source.clone())
        };
        select_event(&mut app, &stored);
        assert_eq!(at(&app), Some(stored.clone()));
        // A notice on top pushes the lines down; the selection moves with them.
        app.apply(&ServerMessage::Event {
            event: notice(EventKind::Opened, 77, "x", Band::Medium, 50.0, T0),
        });
        assert_eq!(at(&app), Some(stored.clone()), "after a notice");
        // A stall's first report, then its next one standing in for it.
        let mut stall = stopped_stall(T0 - 5.0, None, "monitor stalled");
        app.apply(&ServerMessage::Stall {
            stall: stall.clone(),
        });
        assert_eq!(at(&app), Some(stored.clone()), "after a stall");
        stall.end_s = Some(T0 - 2.0);
        app.apply(&ServerMessage::Stall {
            stall: stall.clone(),
        });
        assert_eq!(
            at(&app),
            Some(stored.clone()),
            "after the stall's next report"
        );
        // With the stall's line selected, its next report keeps it selected.
        app.handle_key(key(KeyCode::Home));
        stall.duration_s = 4.0;
        app.apply(&ServerMessage::Stall { stall });
        assert_eq!(at(&app), Some(EventRef::Stall { start_s: T0 - 5.0 }));
        // A reload of the stored list keeps the line too, wherever it lands
        // (here second, under a newer one).
        select_event(&mut app, &stored);
        let mut rows = fixture_event_rows();
        let mut newer = rows[0].clone();
        newer.id = 4;
        newer.entry_time_s = T0 - 60.0;
        newer.exit_time_s = None;
        rows.push(newer);
        app.apply(&ServerMessage::Events {
            events: rows.clone(),
        });
        assert_eq!(app.events()[0].source, EventRef::Stored { id: 4 });
        assert_eq!(at(&app), Some(stored.clone()), "after a reload");
        // Many new lines while a line is selected: it is kept past the
        // pane's length until the focus leaves.
        let shown = app.events_shown();
        for k in 0..shown + 2 {
            app.apply(&ServerMessage::Event {
                event: notice(
                    EventKind::Opened,
                    500 + k as u32,
                    "y",
                    Band::Medium,
                    50.0,
                    T0,
                ),
            });
        }
        assert_eq!(at(&app), Some(stored), "past the pane's length");
        assert!(app.events().len() > shown);
        app.handle_key(key(KeyCode::Tab));
        assert_eq!(app.events().len(), shown);
        // Unfocused, the pane shows the newest line, not the old selection.
        let newest = format!(" {} y", 500 + shown + 1);
        assert!(screen(&render(&app, 140, 24)).contains(&newest));
        // A live notice's line, reloaded: its process's newest stored event.
        app.handle_key(key(KeyCode::Tab));
        app.apply(&ServerMessage::Event {
            event: notice(EventKind::Opened, 1201, "pg", Band::Medium, 50.0, T0),
        });
        app.handle_key(key(KeyCode::Home));
        app.apply(&ServerMessage::Event {
            event: notice(EventKind::Opened, 77, "x", Band::Medium, 50.0, T0),
        });
        assert!(matches!(
            at(&app),
            Some(EventRef::Process { pid: 1201, .. })
        ));
        app.apply(&ServerMessage::Events { events: rows });
        assert_eq!(
            at(&app),
            Some(EventRef::Stored { id: 4 }),
            "the newest of 1201"
        );
    }

    #[test]
    fn screens_of_the_new_views_escape_and_fit() {
        let mut app = fixture();
        app.handle_key(ch('k'));
        let text = screen(&render(&app, 80, 24));
        assert!(text.contains("Send a signal to pid"), "{text}");
        assert!(text.contains("TERM"));
        app.handle_key(key(KeyCode::Esc));
        app.open_panel("Event 3", "evil\u{1b}[2J text");
        let text = screen(&render(&app, 80, 24));
        assert!(
            text.contains("Event 3") && !text.contains('\u{1b}'),
            "{text}"
        );
        app.handle_key(key(KeyCode::Esc));
        app.handle_key(ch('/'));
        type_str(&mut app, "pg");
        let text = screen(&render(&app, 80, 24));
        assert!(text.contains("search: pg"), "{text}");
    }

    #[test]
    fn user_column_names_the_owner_and_the_filter_matches_users() {
        let mut app = fixture();
        let text = screen(&render(&app, 160, 45));
        let header = text.lines().find(|l| l.contains("PID USER")).unwrap_or("");
        assert!(
            header.contains("COMMAND"),
            "USER between PID and COMMAND:\n{text}"
        );
        let row = |pid: &str| {
            text.lines()
                .find(|l| l.split_whitespace().any(|w| w == pid))
                .unwrap_or("")
                .to_string()
        };
        assert!(row("1201").contains("postgres"), "{text}");
        assert!(row("880").contains("root"), "{text}");
        // A uid without a name shows the number; a hostile name is escaped.
        assert!(row("4100").contains("4242"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert_eq!(app.user_text(Some(70)), "postgres");
        assert_eq!(app.user_text(Some(4242)), "4242");
        assert_eq!(app.user_text(None), "-");
        // The filter matches the user's name, or the uid.
        app.handle_key(ch('\\'));
        type_str(&mut app, "ROOT");
        app.handle_key(key(KeyCode::Enter));
        let mut pids = pids_in_order(&app);
        pids.sort_unstable();
        assert_eq!(pids, vec![2, 880], "root owns kworker and Xorg");
        app.handle_key(ch('\\'));
        for _ in 0.."ROOT".len() {
            app.handle_key(key(KeyCode::Backspace));
        }
        type_str(&mut app, "4242");
        app.handle_key(key(KeyCode::Enter));
        assert_eq!(pids_in_order(&app), vec![4100]);
        // Clicking USER sorts by name, ascending.
        app.handle_key(ch('\\'));
        for _ in 0.."4242".len() {
            app.handle_key(key(KeyCode::Backspace));
        }
        app.handle_key(key(KeyCode::Enter));
        app.click_header(SortColumn::User);
        let users: Vec<String> = app.rows().iter().map(|p| app.user_text(p.uid)).collect();
        let mut sorted = users.clone();
        sorted.sort();
        assert_eq!(users, sorted);
    }

    #[test]
    fn t_sorts_by_cpu_time_shown_as_time_plus_and_start_time_stays_reachable() {
        let mut app = fixture();
        app.handle_key(ch('T'));
        assert_eq!(app.sort(), (SortColumn::CpuTime, false));
        // Biggest first: java (400000 s), Xorg (5400 s), the hostile one
        // (3730.45 s), postgres (65.5 s).
        assert_eq!(pids_in_order(&app), vec![4100, 880, 31337, 1201, 2]);
        let text = screen(&render(&app, 160, 45));
        assert!(text.contains("TIME+▼"), "{text}");
        for cell in ["4d15h", "1:30:00", "1:02:10", "1:05.50"] {
            assert!(text.contains(cell), "{cell} on screen:\n{text}");
        }
        // Start time is still a sort column: s and < > reach it.
        let mut seen = Vec::new();
        for _ in 0..SortColumn::ALL.len() {
            app.handle_key(ch('s'));
            seen.push(app.sort().0);
        }
        assert!(seen.contains(&SortColumn::Started), "{seen:?}");
        assert!(seen.contains(&SortColumn::CpuTime), "{seen:?}");
    }

    #[test]
    fn replay_says_signals_and_intervals_do_not_apply_to_a_recording() {
        let mut app = fixture();
        app.show_replay(&crate::tui::ReplayView {
            at: T0,
            note: None,
            status: None,
            window: vec![samples(7, processes(7))],
            events: Vec::new(),
            stalls: Vec::new(),
        });
        assert!(app.replaying());
        assert!(app.selected().is_some(), "a recorded row is selected");
        for k in [ch('k'), key(KeyCode::F(9))] {
            assert_eq!(app.handle_key(k), Action::None);
            assert_eq!(app.mode(), Mode::Normal, "no signal menu in replay");
            assert_eq!(app.status(), Some(crate::tui::app::REPLAY_NO_SIGNAL));
        }
        assert!(
            crate::tui::app::REPLAY_NO_SIGNAL.contains("L returns to live"),
            "the way out is named"
        );
        for k in [ch('+'), ch('-'), ch('=')] {
            assert_eq!(app.handle_key(k), Action::None);
            assert_eq!(app.status(), Some(crate::tui::app::REPLAY_NO_INTERVAL));
        }
        // Embedded, then replaying: still no interval change.
        app.set_connection(ConnectionState::Embedded);
        assert!(matches!(
            app.handle_key(ch('+')),
            Action::SetInterval { .. }
        ));
        app.show_replay(&crate::tui::ReplayView {
            at: T0,
            note: None,
            status: None,
            window: vec![samples(7, processes(7))],
            events: Vec::new(),
            stalls: Vec::new(),
        });
        assert_eq!(app.handle_key(ch('-')), Action::None);
        // Live again: k opens the menu.
        app.set_connection(ConnectionState::Connected);
        app.apply(&ServerMessage::Sample {
            samples: samples(8, processes(8)),
        });
        app.handle_key(ch('k'));
        assert_eq!(app.mode(), Mode::SignalMenu);
    }
}

/// A 4-core machine: core 0 busy in user mode, core 1 in system, core 2 waiting
/// on I/O, core 3 stolen; memory, swap, pressure, disk and network measured.
fn machine_sample(step: usize) -> crate::model::SystemSample {
    use crate::model::{
        CpuPercent, DiskRates, LoadSample, MemorySample, NetRates, PressureSample, PsiSample,
        StressCause, SystemSample,
    };
    let core = |user: f64, system: f64, iowait: f64, steal: f64| CpuPercent {
        user,
        system,
        iowait,
        steal,
        idle: 100.0 - user - system - iowait - steal,
        ..CpuPercent::default()
    };
    let psi = |some: f64, full: f64| {
        Some(PsiSample {
            some_avg10: Some(some),
            full_avg10: Some(full),
            some_stall_us: Some(1000),
            full_stall_us: Some(0),
        })
    };
    SystemSample {
        interval_s: Some(1.0 / 3.0),
        cpu_count: 4,
        cpu: Some(core(25.0, 25.0, 20.0, 10.0)),
        cores: vec![
            core(100.0, 0.0, 0.0, 0.0),
            core(0.0, 100.0, 0.0, 0.0),
            core(0.0, 0.0, 80.0, 0.0),
            core(0.0, 0.0, 0.0, 40.0),
        ],
        memory: Some(MemorySample {
            total_bytes: 8 << 30,
            available_bytes: Some(6 << 30),
            cached_bytes: Some(1 << 30),
            dirty_bytes: Some(1 << 20),
            swap_total_bytes: Some(2 << 30),
            swap_used_bytes: Some(512 << 20),
        }),
        pressure: Some(PressureSample {
            cpu: psi(12.5, 0.0),
            memory: psi(0.0, 0.0),
            io: psi(30.0, 20.0),
        }),
        disk: Some(DiskRates {
            read_bytes_per_s: 3.0 * 1048576.0,
            write_bytes_per_s: 512.0 * 1024.0,
            reads_per_s: 40.0,
            writes_per_s: 10.0,
        }),
        net: Some(NetRates {
            rx_bytes_per_s: 2048.0,
            tx_bytes_per_s: 100.0,
        }),
        load: Some(LoadSample {
            one: 3.5,
            five: 2.0,
            fifteen: 1.0,
            runnable: Some(5),
            threads: Some(400),
        }),
        processes: 312,
        threads: Some(400),
        running: 3,
        blocked: 1,
        stress: 80.0 + step as f64,
        stress_cause: StressCause::Saturation,
    }
}

#[test]
fn mouse_clicks_select_rows_and_sort_by_headers() {
    let mut app = fixture();
    let area = ratatui::layout::Rect::new(0, 0, 160, 45);
    app.set_page_size(ui::table_rows(area, &app));
    let text = screen(&render(&app, 160, 45));
    let lines: Vec<&str> = text.lines().collect();
    let header = lines.iter().position(|l| l.contains("PID USER")).unwrap();
    // The MEM header cell, found on screen.
    let x = lines[header]
        .find("MEM")
        .map(|b| lines[header][..b].chars().count())
        .unwrap();
    let hit = ui::hit(area, &app, x as u16, header as u16);
    assert_eq!(hit, ui::Hit::Header(SortColumn::Mem));
    app.click_header(SortColumn::Mem);
    assert_eq!(app.sort().0, SortColumn::Mem);
    // The third row.
    let hit = ui::hit(area, &app, 10, header as u16 + 3);
    assert_eq!(hit, ui::Hit::Row(2));
    app.click_row(2);
    assert_eq!(app.selected_index(), Some(2));
    // Outside everything.
    assert_eq!(ui::hit(area, &app, 0, 0), ui::Hit::Nothing);
}

#[test]
fn header_meters_show_every_core_memory_pressure_and_throughput() {
    let mut app = fixture();
    let mut s = samples(8, processes(8));
    s.system = Some(Box::new(machine_sample(1)));
    app.apply(&ServerMessage::Sample { samples: s });
    for (w, h) in [(100, 30), (160, 45), (70, 30)] {
        let text = screen(&render(&app, w, h));
        for core in ["0 [", "1 [", "2 [", "3 ["] {
            assert!(text.contains(core), "core bar {core} at {w}x{h}:\n{text}");
        }
        for part in ["Mem [", "Swp [", "Load 3.50 2.00 1.00", "PSI "] {
            assert!(text.contains(part), "{part} at {w}x{h}:\n{text}");
        }
        assert!(
            text.contains("stress 81.0"),
            "the machine's stress:\n{text}"
        );
    }
    let text = screen(&render(&app, 100, 30));
    // Monochrome: each kind has its own character.
    let row = |n: &str| {
        text.lines()
            .find(|l| l.contains(&format!("{n} [")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row("0").contains("|||||") && row("0").contains("100%"),
        "{text}"
    );
    assert!(row("1").contains("#####"), "{text}");
    assert!(
        row("2").contains("~~~~~") && row("2").contains("  0%"),
        "{text}"
    );
    assert!(
        row("3").contains("$$$") && row("3").contains(" 40%"),
        "{text}"
    );
    for part in [
        "cpu 12.5/0.0",
        "io 30.0/20.0",
        "r 3.0M/s w 512K/s",
        "rx 2.0K/s",
        "312, 3 R, 1 D, 400 thr",
    ] {
        assert!(text.contains(part), "{part}:\n{text}");
    }
}
