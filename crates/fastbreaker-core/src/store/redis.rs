//! A store shared by a fleet: a breaker's state in Redis, the same for every process and host that
//! uses the same server, namespace and name.
//!
//! # What goes over the network, and what does not
//! Every change of the shared state is one Lua script on the server (`scripts/*.lua`, sent with
//! EVALSHA): the server decides atomically, on its own clock (`TIME`), and publishes the new state
//! on the namespace's channel. Nothing is ever read and then written from here, and no lock is
//! held across a protected call.
//!
//! Each process keeps the last state it knows in a [`Shared`] per breaker: the same one-word
//! summary as the in-memory store, plus the local instant until which an OPEN circuit (or a
//! HALF_OPEN one whose trial slots are all taken) turns calls away. So the hot paths touch no
//! network: a call to a CLOSED circuit with no failures counted is admitted and its success
//! recorded from the summary alone, and a rejection by an OPEN circuit reads the summary and a
//! clock. Failures, trials and the first success after failures go to the server: they change what
//! the fleet shares.
//!
//! A subscriber thread per store and process (a Rust thread: it never runs Python) keeps the
//! cached states fresh from the channel, re-reads them all every `refresh_interval` as a backstop,
//! hands back the slots of trials whose permits were dropped, and reconnects (at most once a
//! second) when the server went away.
//!
//! # When the server cannot be reached
//! No operation waits longer than `timeout` per round trip. The first one that fails marks the
//! store unreachable: from then on no call touches the network, and each breaker goes on as
//! [`Unavailable`] says (by default with its own in-process state, exactly as an in-memory
//! breaker). Only the subscriber thread tries the server again, once a second; when it answers,
//! every breaker re-reads the shared state and rejoins it. The reachable flag and the one probe a
//! second are the store's own breaker. Notices about it, and transitions learned from other
//! processes, are queued for the bindings ([`Store::take_news`]) instead of being reported from the
//! subscriber thread.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{Client, Connection, RedisResult, Script, Value};

use super::summary::Summary;
use super::{MemoryStore, Store, StoreError, StoreResult};
use crate::clock::{Nanos, NANOS_PER_SECOND};
use crate::config::{Config, ConfigError};
use crate::events::{Notice, Reason, Transition};
use crate::machine::{Admission, Outcome, Rejection, Snapshot, State, Ticket, Trip, FOREVER};
use crate::policy::backoff::random_unit;

/// What a breaker does while its store cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Unavailable {
    /// Goes on with its own in-process state, as an in-memory breaker would.
    #[default]
    Local,
    /// Lets every call through, counting nothing.
    Closed,
    /// Turns every call away.
    Open,
}

impl Unavailable {
    pub fn as_str(self) -> &'static str {
        match self {
            Unavailable::Local => "local",
            Unavailable::Closed => "closed",
            Unavailable::Open => "open",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        [Unavailable::Local, Unavailable::Closed, Unavailable::Open]
            .into_iter()
            .find(|mode| mode.as_str() == word)
    }
}

/// How a [`RedisStore`] behaves.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// Keys live under `{namespace:name}`; the channel is `namespace:events`.
    pub namespace: String,
    /// The longest any call waits on one round trip to the server.
    pub timeout: Duration,
    pub unavailable: Unavailable,
    /// How often the subscriber re-reads every breaker's state (a backstop for lost messages).
    pub refresh_interval: Duration,
    /// How long keys outlive their last write (at least the recovery and trial timeouts).
    pub key_ttl: Duration,
    /// Certificates for `rediss://` beyond the system's trust store.
    pub tls: TlsFiles,
}

/// PEM certificates for a TLS connection (`rediss://`): a CA to trust instead of the system's
/// roots, and a client certificate and key for servers that authenticate clients.
#[derive(Clone, Default)]
pub struct TlsFiles {
    pub ca_certs: Option<Vec<u8>>,
    pub client_cert: Option<Vec<u8>>,
    pub client_key: Option<Vec<u8>>,
}

impl TlsFiles {
    fn is_empty(&self) -> bool {
        self.ca_certs.is_none() && self.client_cert.is_none() && self.client_key.is_none()
    }
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key's bytes.
        f.debug_struct("TlsFiles")
            .field("ca_certs", &self.ca_certs.is_some())
            .field("client_cert", &self.client_cert.is_some())
            .field("client_key", &self.client_key.is_some())
            .finish()
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            namespace: "fastbreaker".to_owned(),
            timeout: Duration::from_millis(50),
            unavailable: Unavailable::Local,
            refresh_interval: Duration::from_secs(5),
            key_ttl: Duration::from_secs(86_400),
            tls: TlsFiles::default(),
        }
    }
}

/// How often an unreachable server is tried again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How long the subscriber waits for a message before it looks at its other chores.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Connections kept for reuse; more may be open at once while more threads need one.
const POOL_SIZE: usize = 8;

/// The local monotonic clock the cached deadlines are on (never the manual test clock: the
/// server's clock decides for a shared breaker).
fn mono() -> Nanos {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn micros(nanos: Nanos) -> u64 {
    nanos.div_ceil(1_000)
}

struct Scripts {
    acquire: Script,
    record: Script,
    manual: Script,
    read: Script,
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| {
        let common = include_str!("scripts/common.lua");
        let script = |body: &str| Script::new(&format!("{common}\n{body}"));
        Scripts {
            acquire: script(include_str!("scripts/acquire.lua")),
            record: script(include_str!("scripts/record.lua")),
            manual: script(include_str!("scripts/manual.lua")),
            read: script(include_str!("scripts/read.lua")),
        }
    })
}

/// The URL with its password (and query) removed, for statuses and logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // Everything up to the last `@` is user information (a password may hold `/` or `@`).
    let (user, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (userinfo.split(':').next().filter(|u| !u.is_empty()), rest),
        None => (None, rest),
    };
    let (host, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    match user {
        Some(user) => format!("{scheme}://{user}@{host}{path}"),
        None => format!("{scheme}://{host}{path}"),
    }
}

/// A process-unique id for the messages this process causes, new after a fork.
fn new_origin() -> String {
    let hash = RandomState::new().hash_one((std::process::id(), mono()));
    format!("{:016x}", hash)
}

/// The shared state as the server last told it.
#[derive(Clone, Debug, PartialEq)]
struct Update {
    incarnation: String,
    seq: u64,
    generation: u64,
    state: State,
    failure_count: u32,
    success_count: u32,
    last_failure_time: Option<f64>,
    /// How long the circuit stays OPEN from now (zero otherwise).
    open_remaining: Nanos,
    trials_in_flight: u32,
    /// How long the current opening lasts (script replies say; messages do not).
    open_duration: Option<Nanos>,
}

impl Update {
    /// The breaker as the next call would find it: HALF_OPEN once an OPEN circuit's recovery
    /// timeout has passed (its trials not started yet).
    fn snapshot(&self, config: &Config) -> Snapshot {
        let past_timeout = self.state == State::Open && self.open_remaining == 0;
        Snapshot {
            state: if past_timeout {
                State::HalfOpen
            } else {
                self.state
            },
            failure_count: self.failure_count,
            success_count: if past_timeout { 0 } else { self.success_count },
            trials_in_flight: self.trials_in_flight,
            last_failure_time: self.last_failure_time,
            retry_after: match self.state {
                State::Isolated => FOREVER,
                _ => self.open_remaining,
            },
            open_duration: match self.state {
                State::Closed | State::Disabled => config.recovery_timeout,
                State::Isolated => FOREVER,
                State::Open | State::HalfOpen => {
                    self.open_duration.unwrap_or(config.recovery_timeout)
                }
            },
        }
    }
}

/// What a script answered: the state after it, and what it decided.
#[derive(Debug)]
struct Reply {
    update: Update,
    admitted: bool,
    trial: Option<u64>,
    /// For a rejection: how long until a call could be admitted (`None`: until a trial ends).
    remaining: Option<Nanos>,
    transition: Option<Transition>,
}

fn state_of(code: i64) -> Result<State, String> {
    match code {
        0 => Ok(State::Closed),
        1 => Ok(State::Open),
        2 => Ok(State::HalfOpen),
        3 => Ok(State::Isolated),
        4 => Ok(State::Disabled),
        other => Err(format!("unknown state {other}")),
    }
}

fn reason_of(word: &str) -> Result<Reason, String> {
    Reason::ALL
        .into_iter()
        .find(|reason| reason.as_str() == word)
        .ok_or_else(|| format!("unknown reason {word:?}"))
}

fn count(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

fn last_failure(micros: i64) -> Option<f64> {
    (micros >= 0).then(|| micros as f64 / 1e6)
}

/// A duration the server gave in microseconds; below [`FOREVER`], which only an isolated
/// circuit's duration is (an opening however long has an end).
fn nanos_from_micros(micros: i64) -> Nanos {
    u64::try_from(micros.max(0))
        .unwrap_or(0)
        .saturating_mul(1_000)
        .min(FOREVER - 1)
}

/// The cached deadline of an ISOLATED circuit: no other state's deadline is this late (see
/// [`Shared::adopt`]), so that the hot path's rejection tells isolated from open by the deadline
/// alone, whichever of the two stores it sees first.
const ISOLATED_DEADLINE: Nanos = Nanos::MAX;

#[allow(clippy::too_many_arguments)]
fn transition_of(
    from: i64,
    to: i64,
    reason: &str,
    failures_before: i64,
    successes_before: i64,
    time_micros: i64,
    after: &Update,
) -> Result<Option<Transition>, String> {
    if from < 0 {
        return Ok(None);
    }
    Ok(Some(Transition {
        from: state_of(from)?,
        to: state_of(to)?,
        reason: reason_of(reason)?,
        failure_count: after.failure_count,
        success_count: after.success_count,
        failures_before: count(failures_before),
        successes_before: count(successes_before),
        time: time_micros as f64 / 1e6,
    }))
}

fn parse_reply(value: Value) -> Result<Reply, String> {
    let Value::Array(items) = value else {
        return Err(format!("expected an array, got {value:?}"));
    };
    if items.len() != 19 {
        return Err(format!("expected 19 items, got {}", items.len()));
    }
    let int = |i: usize| -> Result<i64, String> {
        match &items[i] {
            Value::Int(n) => Ok(*n),
            Value::BulkString(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("item {i} is not a number")),
            other => Err(format!("item {i} is not a number: {other:?}")),
        }
    };
    let text = |i: usize| -> Result<String, String> {
        match &items[i] {
            Value::BulkString(b) => Ok(String::from_utf8_lossy(b).into_owned()),
            Value::SimpleString(s) => Ok(s.clone()),
            Value::Int(n) => Ok(n.to_string()),
            other => Err(format!("item {i} is not a string: {other:?}")),
        }
    };
    let update = Update {
        incarnation: text(0)?,
        seq: int(1)?.max(0) as u64,
        generation: int(2)?.max(0) as u64,
        state: state_of(int(3)?)?,
        failure_count: count(int(4)?),
        success_count: count(int(5)?),
        last_failure_time: last_failure(int(6)?),
        open_remaining: nanos_from_micros(int(7)?),
        trials_in_flight: count(int(8)?),
        open_duration: Some(nanos_from_micros(int(18)?)),
    };
    let remaining = int(11)?;
    let transition = transition_of(
        int(12)?,
        int(13)?,
        &text(14)?,
        int(15)?,
        int(16)?,
        int(17)?,
        &update,
    )?;
    let trial = int(10)?;
    Ok(Reply {
        admitted: int(9)? == 1,
        trial: (trial >= 0).then_some(trial as u64),
        remaining: (remaining >= 0).then(|| nanos_from_micros(remaining)),
        transition,
        update,
    })
}

/// A message from the channel: who caused it, the state after it, the transition it made.
#[derive(Debug)]
struct Message {
    origin: String,
    name: String,
    update: Update,
    transition: Option<Transition>,
}

fn parse_message(payload: &str) -> Result<Message, String> {
    // origin inc seq gen st fc sc lf remaining from to reason fb sb time name (the name may hold
    // spaces: it is last)
    let fields: Vec<&str> = payload.splitn(16, ' ').collect();
    if fields.len() != 16 {
        return Err(format!("expected 16 fields, got {}", fields.len()));
    }
    let int = |i: usize| -> Result<i64, String> {
        fields[i]
            .parse::<f64>()
            .map(|f| f as i64)
            .map_err(|_| format!("field {i} is not a number: {:?}", fields[i]))
    };
    let update = Update {
        incarnation: fields[1].to_owned(),
        seq: int(2)?.max(0) as u64,
        generation: int(3)?.max(0) as u64,
        state: state_of(int(4)?)?,
        failure_count: count(int(5)?),
        success_count: count(int(6)?),
        last_failure_time: last_failure(int(7)?),
        open_remaining: nanos_from_micros(int(8)?),
        trials_in_flight: 0,
        open_duration: None,
    };
    let transition = transition_of(
        int(9)?,
        int(10)?,
        fields[11],
        int(12)?,
        int(13)?,
        int(14)?,
        &update,
    )?;
    Ok(Message {
        origin: fields[0].to_owned(),
        name: fields[15].to_owned(),
        update,
        transition,
    })
}

/// What this process knows of one breaker's shared state.
#[derive(Debug, Default)]
struct Cache {
    /// The last state adopted; `None` until the server has been heard from.
    known: Option<Update>,
    /// The latest seq whose transition has been reported here (own or learned).
    reported_seq: u64,
    /// The incarnation `reported_seq` counts in (a state rebuilt from empty counts from 0).
    reported_incarnation: String,
    /// The breaker went on with its local state since `known` was last set (the server was
    /// away): what it showed then is the local state.
    degraded: bool,
    /// A change found by re-reading, held for [`SYNC_GRACE`]: reported only if the message of the
    /// transition behind it (which carries the real reason) does not arrive first.
    pending: Option<PendingReport>,
}

#[derive(Debug)]
struct PendingReport {
    seq: u64,
    since: Instant,
    transition: Transition,
    /// The state was rebuilt (another incarnation): no message will explain it.
    rebuilt: bool,
}

/// How long a change found by re-reading waits for its own message before it is reported.
const SYNC_GRACE: Duration = Duration::from_millis(250);

/// One breaker of a [`RedisStore`], in this process.
#[derive(Debug)]
struct Shared {
    name: String,
    key: String,
    trials_key: String,
    config: Config,
    /// [`Summary`] of `cache`, written under its lock.
    summary: AtomicU64,
    /// Local instant until which the cached OPEN (or full HALF_OPEN) state turns calls away.
    deadline: AtomicU64,
    cache: Mutex<Cache>,
    /// The breaker's own state while the server cannot be reached.
    local: MemoryStore,
    news: Mutex<Vec<Notice>>,
    /// Tickets dropped without an outcome, to hand back to the server (never from a `Drop`).
    released: Mutex<Vec<Ticket>>,
    /// Going on with `local` (the server is away, or refuses this breaker's keys) until a
    /// re-read of the shared state succeeds.
    local_only: AtomicBool,
    /// [`Hold::ISOLATED`] or [`Hold::DISABLED`] while the cached state is, else 0: what the
    /// summary cannot tell (it says unknown for a disabled circuit), read on the slow paths
    /// only, so that a disabled circuit costs no round trip per call. Kept while the server is
    /// away (the fleet's last state, or a move made by hand meanwhile): the operator's state
    /// holds whatever `store_unavailable` says. An isolated circuit's hot path goes by its
    /// deadline ([`ISOLATED_DEADLINE`]).
    hold: AtomicU8,
}

/// Values of [`Shared::hold`].
struct Hold;

impl Hold {
    const NONE: u8 = 0;
    const ISOLATED: u8 = 1;
    const DISABLED: u8 = 2;

    fn of(state: State) -> u8 {
        match state {
            State::Isolated => Self::ISOLATED,
            State::Disabled => Self::DISABLED,
            _ => Self::NONE,
        }
    }
}

/// Where a state adopted by a [`Shared`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// A script's reply to a call of this process.
    Reply,
    /// A message on the channel.
    Message,
    /// The subscriber's re-read: authoritative (it is how a breaker rejoins the shared state).
    Resync,
}

/// Reports kept for a breaker nobody calls (a breaker of a fleet that flaps while this process
/// never calls it) are capped: the oldest go first.
const NEWS_CAP: usize = 64;

impl Shared {
    /// Adopts `update` if it is not older than what is known; sets the deadline the way the
    /// operation that brought it says (`half_open_full`: a rejection for want of a slot, and how
    /// long until one frees). Returns whether it was adopted.
    fn adopt(
        &self,
        update: &Update,
        half_open_full: Option<Option<Nanos>>,
        backstop: Nanos,
        source: Source,
    ) -> bool {
        let mut cache = self.cache.lock();
        if cache.degraded && source != Source::Resync {
            return false; // on local state until a re-read rejoins the shared one
        }
        if let Some(known) = &cache.known {
            if known.incarnation == update.incarnation && update.seq < known.seq {
                return false;
            }
            // A reply about a key that did not exist yet, overtaken by a message about the state
            // since created: only a re-read may tell that the key is gone.
            if source == Source::Reply
                && update.incarnation.is_empty()
                && !known.incarnation.is_empty()
            {
                return false;
            }
        }
        cache.degraded = false;
        self.local_only.store(false, Ordering::Release);
        let now = mono();
        let deadline = match update.state {
            State::Closed => 0,
            State::Open => now.saturating_add(update.open_remaining),
            State::HalfOpen => match half_open_full {
                Some(Some(left)) => now.saturating_add(left.max(1)),
                Some(None) => now.saturating_add(backstop),
                None => 0,
            },
            // Until reset(): rejected locally for good (see `try_acquire`).
            State::Isolated => ISOLATED_DEADLINE,
            State::Disabled => 0,
        };
        let deadline = match update.state {
            State::Isolated => deadline,
            _ => deadline.min(ISOLATED_DEADLINE - 1),
        };
        self.deadline.store(deadline, Ordering::Relaxed);
        self.hold.store(Hold::of(update.state), Ordering::Relaxed);
        let news = self.summary.load(Ordering::Relaxed) & Summary::NEWS;
        let summary = Summary::of(update.state, update.generation, update.failure_count);
        self.summary.store(summary | news, Ordering::Release);
        cache.known = Some(update.clone());
        true
    }

    /// In a forked child: forgets the parent's cached state (every call takes the slow path, and
    /// asks the server), without waiting for a lock the parent's other threads may have held.
    fn forget_after_fork(&self) {
        self.local_only.store(false, Ordering::Release);
        self.hold.store(Hold::NONE, Ordering::Relaxed);
        if let Some(mut cache) = self.cache.try_lock() {
            cache.degraded = false;
            cache.known = None;
        }
        self.summary.store(Summary::UNKNOWN, Ordering::Release);
    }

    /// The server went away (or refuses this breaker's keys): the local state takes over, from
    /// the last shared state known where that was open, isolated or disabled (a circuit open for
    /// the fleet stays open in every process). A local state that is already open is kept as it
    /// is.
    fn degrade(&self) {
        let mut cache = self.cache.lock();
        cache.degraded = true;
        let last = cache.known.take().map(|known| known.state);
        let news = self.summary.load(Ordering::Relaxed) & Summary::NEWS;
        self.summary
            .store(Summary::UNKNOWN | news, Ordering::Release);
        // Carried over under the cache's lock (the local one inside it, as `observe` takes them),
        // and only then is the local state the one to ask (`local_only`): a caller that found the
        // server gone while another thread degrades this breaker waits here for it (see
        // `RedisBreakerStore::unreachable`), and the hot path goes to the server (and so here)
        // meanwhile, rather than to a local state not carried over yet.
        //
        // `hold` stays as the fleet's last state left it: what the operator set holds however
        // the breaker goes on without the server (see `acquire_locally`). Not reported: the
        // process showed the fleet's state already. A local held state left from an earlier
        // outage that the fleet has since let go is let go here too. An opening goes on for
        // what is left of the fleet's (its backoff, its `open(duration)`), not for a local one.
        let (config, local) = (&self.config, &self.local);
        let left = self.deadline.load(Ordering::Relaxed).saturating_sub(mono());
        let _ = match (last, local.view(config).state) {
            (Some(State::Isolated), held) if held != State::Isolated => local.isolate(config),
            (Some(State::Disabled), held) if held != State::Disabled => local.disable(config),
            (
                Some(state @ (State::Open | State::HalfOpen)),
                State::Closed | State::Isolated | State::Disabled,
            ) => local.force_open(
                config,
                (state == State::Open && left > 0).then_some(left.min(FOREVER - 1)),
            ),
            (Some(State::Closed), State::Isolated | State::Disabled) => local.reset(config),
            _ => Ok(None),
        };
        self.local_only.store(true, Ordering::Release);
        drop(cache);
    }

    /// Adopts a state read from the server (a resync, or a message without a transition) and
    /// reports the change it makes to what this process showed: a transition missed on the
    /// channel, or a server that came back empty.
    fn observe(&self, update: &Update, backstop: Nanos) {
        let shown = {
            let cache = self.cache.lock();
            match &cache.known {
                Some(known) => Some((known.state, Some(known.incarnation.clone()))),
                None if cache.degraded => Some((self.local.view(&self.config).state, None)),
                None => None,
            }
        };
        if !self.adopt(update, None, backstop, Source::Resync) {
            return;
        }
        let Some((from, incarnation)) = shown else {
            return;
        };
        if from == update.state {
            return;
        }
        let rebuilt = incarnation.as_deref() != Some(update.incarnation.as_str());
        let mut cache = self.cache.lock();
        if update.seq > cache.reported_seq || rebuilt {
            cache.pending = Some(PendingReport {
                seq: update.seq,
                since: Instant::now(),
                rebuilt,
                transition: Transition {
                    from,
                    to: update.state,
                    reason: Reason::Synchronised,
                    failure_count: update.failure_count,
                    success_count: update.success_count,
                    failures_before: update.failure_count,
                    successes_before: update.success_count,
                    time: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64()),
                },
            });
        }
    }

    /// Reports a change found by re-reading once its grace has passed without its message.
    fn flush_pending(&self, now: Instant) {
        let report = {
            let mut cache = self.cache.lock();
            match &cache.pending {
                Some(pending) if now.duration_since(pending.since) >= SYNC_GRACE => {
                    let pending = cache.pending.take().expect("matched above");
                    let report = pending.rebuilt || pending.seq > cache.reported_seq;
                    cache.reported_seq = cache.reported_seq.max(pending.seq);
                    report.then_some(pending.transition)
                }
                _ => None,
            }
        };
        if let Some(transition) = report {
            self.push_news(Notice::Learned(transition));
        }
    }

    /// A transition up to `seq` was reported (or made here): a held report of it is not needed.
    fn reported(cache: &mut Cache, incarnation: &str, seq: u64) {
        if cache.reported_incarnation != incarnation {
            cache.reported_incarnation = incarnation.to_owned();
            cache.reported_seq = seq;
        }
        cache.reported_seq = cache.reported_seq.max(seq);
        if cache.pending.as_ref().is_some_and(|p| p.seq <= seq) {
            cache.pending = None;
        }
    }

    fn push_news(&self, notice: Notice) {
        {
            let mut news = self.news.lock();
            if news.len() >= NEWS_CAP {
                news.remove(0);
            }
            news.push(notice);
        }
        let _cache = self.cache.lock(); // the summary is only written under this lock
        self.summary.fetch_or(Summary::NEWS, Ordering::Release);
    }

    fn flag_news(&self) {
        let _cache = self.cache.lock();
        self.summary.fetch_or(Summary::NEWS, Ordering::Release);
    }

    /// A transition learned from the channel: reported once, unless this process made it.
    fn learn(
        &self,
        origin: &str,
        own_origin: &str,
        update: &Update,
        transition: Option<Transition>,
    ) {
        let Some(transition) = transition else { return };
        let report = {
            let mut cache = self.cache.lock();
            if cache.degraded {
                return; // on its local state: what it shows is not the fleet's
            }
            let fresh =
                update.seq > cache.reported_seq || cache.reported_incarnation != update.incarnation;
            Self::reported(&mut cache, &update.incarnation, update.seq);
            fresh && origin != own_origin
        };
        if report {
            self.push_news(Notice::Learned(transition));
        }
    }

    fn own_transition(&self, update: &Update) {
        Self::reported(&mut self.cache.lock(), &update.incarnation, update.seq);
    }
}

/// Every store of the process, for [`after_fork_all`].
static STORES: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());

/// In a child process after `fork()`: every store forgets the parent's connections, subscriber
/// thread and cached states (each would notice on its next slow operation; this makes it sure).
pub fn after_fork_all() {
    // A lock held by another thread of the parent at the fork is never released in the child.
    let Some(stores) = STORES.try_lock() else {
        return;
    };
    let live: Vec<Arc<Inner>> = stores.iter().filter_map(Weak::upgrade).collect();
    drop(stores);
    for inner in live {
        inner.after_fork();
    }
}

/// A handle on one Redis server: cheap to clone, shared by every breaker that uses it.
#[derive(Clone, Debug)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    url: String,
    settings: RedisSettings,
    channel: String,
    origin: Mutex<Arc<str>>,
    incarnations: AtomicU64,
    pool: Mutex<Vec<Connection>>,
    /// The process the connections and the subscriber thread belong to.
    pid: AtomicU32,
    subscriber_running: AtomicBool,
    reachable: AtomicBool,
    /// Whether a WARNING about the store has been queued since it was last reachable.
    warned: AtomicBool,
    breakers: Mutex<HashMap<String, Vec<Weak<Shared>>>>,
    /// Store-wide notices, collected by whichever breaker reports news first.
    notices: Mutex<Vec<Notice>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A handle on the server at `url` (`redis://`, `rediss://` or `unix://`). Checks the URL and
    /// the settings; connects only when a breaker first needs the server.
    pub fn new(url: &str, settings: RedisSettings) -> Result<Self, ConfigError> {
        let error = |argument, message: String| ConfigError { argument, message };
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        if !matches!(scheme, Some("redis" | "rediss" | "unix" | "redis+unix")) {
            return Err(error(
                "url",
                format!(
                    "url must be a redis://, rediss:// or unix:// URL, got {:?}",
                    redact(url)
                ),
            ));
        }
        let invalid = |e: redis::RedisError| {
            error(
                "url",
                format!("url {:?} is not a valid Redis URL: {e}", redact(url)),
            )
        };
        let info = redis::IntoConnectionInfo::into_connection_info(url).map_err(invalid)?;
        // No CLIENT SETINFO round trips when connecting: a connection is made within one
        // `timeout`, and each of those would wait a `timeout` of its own on a paused server.
        let redis_settings = info.redis_settings().clone().set_skip_set_lib_name();
        let info = info.set_redis_settings(redis_settings);
        let tls = &settings.tls;
        let client = if tls.is_empty() {
            Client::open(info).map_err(invalid)?
        } else {
            if scheme != Some("rediss") {
                return Err(error(
                    "url",
                    format!(
                        "TLS certificates were given, but url {:?} is not a rediss:// URL",
                        redact(url)
                    ),
                ));
            }
            let client_tls = match (&tls.client_cert, &tls.client_key) {
                (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
                (None, None) => None,
                (Some(_), None) => {
                    return Err(error(
                        "ssl_keyfile",
                        "ssl_certfile needs ssl_keyfile (the client certificate's key)".to_owned(),
                    ))
                }
                (None, Some(_)) => {
                    return Err(error(
                        "ssl_certfile",
                        "ssl_keyfile needs ssl_certfile (the client certificate)".to_owned(),
                    ))
                }
            };
            let certificates = redis::TlsCertificates {
                client_tls,
                root_cert: tls.ca_certs.clone(),
            };
            Client::build_with_tls(info, certificates).map_err(|e| {
                error(
                    "ssl_ca_certs",
                    format!("the TLS certificates could not be used: {e}"),
                )
            })?
        };
        if settings.namespace.is_empty() {
            return Err(error("namespace", "namespace must not be empty".to_owned()));
        }
        if settings.namespace.contains(['{', '}', ' ', ':']) {
            // `:` would make `{a:b}` + `c` and `{a}` + `b:c` the same keys.
            return Err(error(
                "namespace",
                format!(
                    "namespace must not contain braces, colons or spaces, got {:?}",
                    settings.namespace
                ),
            ));
        }
        if settings.timeout.is_zero() {
            return Err(error(
                "timeout",
                "timeout must be greater than 0".to_owned(),
            ));
        }
        if settings.refresh_interval.is_zero() {
            return Err(error(
                "refresh_interval",
                "refresh_interval must be greater than 0".to_owned(),
            ));
        }
        if settings.key_ttl < Duration::from_secs(1) {
            return Err(error(
                "key_ttl",
                "key_ttl must be at least 1 second".to_owned(),
            ));
        }
        let store = RedisStore {
            inner: Arc::new(Inner {
                client,
                url: redact(url),
                channel: format!("{}:events", settings.namespace),
                settings,
                origin: Mutex::new(new_origin().into()),
                incarnations: AtomicU64::new(0),
                pool: Mutex::new(Vec::new()),
                pid: AtomicU32::new(std::process::id()),
                subscriber_running: AtomicBool::new(false),
                reachable: AtomicBool::new(true),
                warned: AtomicBool::new(false),
                breakers: Mutex::new(HashMap::new()),
                notices: Mutex::new(Vec::new()),
            }),
        };
        let mut stores = STORES.lock();
        stores.retain(|weak| weak.strong_count() > 0);
        stores.push(Arc::downgrade(&store.inner));
        Ok(store)
    }

    /// The URL without its password.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    pub fn settings(&self) -> &RedisSettings {
        &self.inner.settings
    }

    /// Whether the server answered the last time it was asked.
    pub fn is_reachable(&self) -> bool {
        self.inner.reachable.load(Ordering::Acquire)
    }

    /// Whether two handles are the same store.
    pub fn same(&self, other: &RedisStore) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The store of the breaker `name`, with the settings `config`.
    pub fn breaker(&self, name: &str, config: Config) -> RedisBreakerStore {
        let namespace = &self.inner.settings.namespace;
        let key = format!("{{{namespace}:{name}}}");
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            trials_key: format!("{key}:trials"),
            key,
            config,
            summary: AtomicU64::new(Summary::UNKNOWN),
            deadline: AtomicU64::new(0),
            cache: Mutex::new(Cache::default()),
            local: MemoryStore::default(),
            news: Mutex::new(Vec::new()),
            released: Mutex::new(Vec::new()),
            local_only: AtomicBool::new(false),
            hold: AtomicU8::new(Hold::NONE),
        });
        {
            let mut breakers = self.inner.breakers.lock();
            let list = breakers.entry(name.to_owned()).or_default();
            list.retain(|weak| weak.strong_count() > 0);
            list.push(Arc::downgrade(&shared));
        }
        if !self.is_reachable() {
            shared.flag_news(); // the warning, if not collected yet, reaches this one too
        }
        self.inner.ensure_subscriber();
        RedisBreakerStore {
            store: self.clone(),
            shared,
        }
    }

    /// After `fork()`, in the child: the connections and the subscriber thread were the
    /// parent's. Forgets them (and every cached state), so that the next use starts afresh.
    pub fn after_fork(&self) {
        self.inner.after_fork();
    }
}

impl Inner {
    fn origin(&self) -> Arc<str> {
        self.origin.lock().clone()
    }

    fn after_fork(&self) {
        let pid = std::process::id();
        if self.pid.swap(pid, Ordering::AcqRel) == pid {
            return;
        }
        // Every lock here is tried, never waited for: one that another thread of the parent held
        // at the fork stays held in the child for ever.
        // The sockets are shared with the parent: leave them to it. Closing our copies would not
        // disturb it, but a connection dropped mid-reply might; forgetting them is safe.
        if let Some(mut pool) = self.pool.try_lock() {
            for connection in std::mem::take(&mut *pool) {
                std::mem::forget(connection);
            }
        }
        if let Some(mut origin) = self.origin.try_lock() {
            *origin = new_origin().into();
        }
        self.subscriber_running.store(false, Ordering::Release);
        // The child tries the server afresh (its first slow operation starts its subscriber).
        self.reachable.store(true, Ordering::Release);
        self.warned.store(false, Ordering::Release);
        // A lock another thread of the parent held at the fork stays held in the child: skip
        // what cannot be had (those breakers notice on their next slow operation).
        let Some(breakers) = self.breakers.try_lock() else {
            return;
        };
        let live: Vec<Arc<Shared>> = breakers
            .values()
            .flat_map(|list| list.iter().filter_map(Weak::upgrade))
            .collect();
        drop(breakers);
        for shared in live {
            shared.forget_after_fork();
        }
    }

    fn check_fork(&self) {
        if self.pid.load(Ordering::Acquire) != std::process::id() {
            self.after_fork();
        }
    }

    fn live_breakers(&self) -> Vec<Arc<Shared>> {
        let breakers = self.breakers.lock();
        breakers
            .values()
            .flat_map(|list| list.iter().filter_map(Weak::upgrade))
            .collect()
    }

    /// Forgets the names whose breakers are all gone (per-request names would pile up).
    fn prune(&self) {
        self.breakers.lock().retain(|_, list| {
            list.retain(|weak| weak.strong_count() > 0);
            !list.is_empty()
        });
    }

    fn connect(&self, deadline: Instant) -> RedisResult<Connection> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out").into());
        }
        self.client.get_connection_with_timeout(left)
    }

    /// Runs `work` on a pooled connection, within `timeout`.
    fn run<T>(&self, work: impl FnOnce(&mut Connection) -> RedisResult<T>) -> StoreResult<T> {
        self.check_fork();
        let deadline = Instant::now() + self.settings.timeout;
        let pooled = self.pool.lock().pop();
        let result = (|| {
            let mut connection = match pooled {
                Some(connection) => connection,
                None => self.connect(deadline)?,
            };
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            connection.set_read_timeout(Some(left))?;
            connection.set_write_timeout(Some(left))?;
            let value = work(&mut connection)?;
            Ok((connection, value))
        })();
        match result {
            Ok((connection, value)) => {
                let mut pool = self.pool.lock();
                if pool.len() < POOL_SIZE {
                    pool.push(connection);
                }
                Ok(value)
            }
            Err(error) if is_store_wide(&error) => {
                Err(StoreError::Unavailable(describe_error(&error)))
            }
            Err(error) => Err(StoreError::Refused(describe_error(&error))),
        }
    }

    /// Runs one script for `shared`, with the common arguments and `extra`.
    fn script(
        &self,
        script: &Script,
        shared: &Shared,
        config: &Config,
        extra: &[String],
    ) -> StoreResult<Reply> {
        let ttl = self.key_ttl(config);
        let incarnation = format!(
            "{}.{}",
            self.origin(),
            self.incarnations.fetch_add(1, Ordering::Relaxed)
        );
        let value: Value = self.run(|connection| {
            let mut invocation = script.prepare_invoke();
            invocation
                .key(&shared.key)
                .key(&shared.trials_key)
                .arg(&self.channel)
                .arg(&shared.name)
                .arg(ttl)
                .arg(&incarnation)
                .arg(&*self.origin())
                .arg(micros(config.recovery_timeout))
                .arg(config.trial_timeout.map_or(0, micros))
                .arg(config.half_open_max_calls)
                // The store refuses a breaker without one (see `check`).
                .arg(config.failure_threshold.unwrap_or(u32::MAX))
                .arg(config.success_threshold)
                .arg(config.backoff.multiplier)
                .arg(config.backoff.max.map_or(-1, |max| micros(max) as i64))
                .arg(config.backoff.jitter)
                // The jitter's draw, made here: a script's own random numbers repeat.
                .arg(if config.backoff.jitter == 0.0 {
                    0.0
                } else {
                    random_unit()
                });
            for arg in extra {
                invocation.arg(arg);
            }
            invocation.invoke(connection)
        })?;
        parse_reply(value).map_err(StoreError::Protocol)
    }

    /// Seconds the keys of a breaker with `config` are kept: never less than it may need them.
    fn key_ttl(&self, config: &Config) -> u64 {
        let needed = config
            .recovery_timeout
            .saturating_add(config.trial_timeout.unwrap_or(0))
            .div_ceil(NANOS_PER_SECOND)
            .saturating_add(60);
        self.settings.key_ttl.as_secs().max(needed)
    }

    /// What an operation's error means: the server as a whole is away, or only this breaker's
    /// keys are refused (that breaker alone goes on locally, until a re-read succeeds).
    fn fail(self: &Arc<Self>, shared: &Shared, error: &StoreError) {
        match error {
            StoreError::Unavailable(_) => self.mark_unreachable(error),
            StoreError::Refused(_) | StoreError::Protocol(_) => self.refuse(shared, error),
        }
    }

    fn refuse(&self, shared: &Shared, error: &StoreError) {
        let first = !shared.local_only.load(Ordering::Acquire);
        shared.degrade();
        if first {
            shared.push_news(Notice::StoreUnreachable(format!(
                "the circuit breaker store {} refused an operation on circuit breaker '{}' \
                 ({}); it goes on with its own in-process state until a re-read of its shared \
                 state succeeds",
                self.url,
                shared.name,
                detail(error)
            )));
        }
    }

    fn mark_unreachable(self: &Arc<Self>, error: &StoreError) {
        // The warning first, as in `mark_reachable`: whoever sees the store unreachable finds it
        // already queued.
        if !self.warned.swap(true, Ordering::AcqRel) {
            let mode = self.settings.unavailable;
            let what = match mode {
                Unavailable::Local => "each process goes on with its own in-process state",
                Unavailable::Closed => "calls go through unprotected",
                Unavailable::Open => "calls are turned away",
            };
            self.notify(Notice::StoreUnreachable(format!(
                "cannot reach the circuit breaker store {} ({}); {what} \
                 (store_unavailable={:?}) until it answers again, tried once a second",
                self.url,
                detail(error),
                mode.as_str()
            )));
        }
        if self.reachable.swap(false, Ordering::AcqRel) {
            for shared in self.live_breakers() {
                shared.degrade();
            }
        }
        // Pooled connections to a server that went away are dead: none is tried again.
        let dead = std::mem::take(&mut *self.pool.lock());
        drop(dead);
        self.ensure_subscriber();
    }

    fn mark_reachable(&self) {
        // The notice first: whoever sees the store reachable again finds the notice that says so
        // already queued (a status read between the two would otherwise report it reachable
        // and log nothing, and the notice would wait for the breaker's next use).
        if self.warned.swap(false, Ordering::AcqRel) {
            self.notify(Notice::StoreReachable(format!(
                "the circuit breaker store {} answers again; breakers rejoin the shared state",
                self.url
            )));
        }
        self.reachable.store(true, Ordering::Release);
    }

    fn notify(&self, notice: Notice) {
        self.notices.lock().push(notice);
        for shared in self.live_breakers() {
            shared.flag_news();
        }
    }

    fn ensure_subscriber(self: &Arc<Self>) {
        self.check_fork();
        if self.subscriber_running.load(Ordering::Acquire)
            || self.subscriber_running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let weak = Arc::downgrade(self);
        let pid = std::process::id();
        let spawned = std::thread::Builder::new()
            .name("fastbreaker-redis".to_owned())
            .spawn(move || {
                // A panic must not leave the store without a subscriber for good: the next slow
                // operation starts another.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    subscribe(&weak, pid)
                }));
                if let Some(inner) = weak.upgrade() {
                    if inner.pid.load(Ordering::Acquire) == pid {
                        inner.subscriber_running.store(false, Ordering::Release);
                    }
                }
            });
        if spawned.is_err() {
            self.subscriber_running.store(false, Ordering::Release);
        }
    }

    /// Re-reads every breaker's state; with `load` (after connecting, or to see whether an
    /// unreachable server is back), first loads the scripts and writes a probe key, so that a
    /// server that answers reads but refuses writes (out of memory, a read-only replica) is not
    /// taken for one that works. Nothing is adopted unless the server answered every read: a
    /// breaker whose keys alone are refused stays on its local state.
    fn resync(self: &Arc<Self>, load: bool) -> StoreResult<()> {
        if load {
            let probe = format!("{}:probe", self.settings.namespace);
            let origin = self.origin();
            self.run(|connection| {
                for script in [
                    &scripts().acquire,
                    &scripts().record,
                    &scripts().manual,
                    &scripts().read,
                ] {
                    script.prepare_invoke().load(connection)?;
                }
                redis::cmd("SET")
                    .arg(&probe)
                    .arg(&*origin)
                    .arg("PX")
                    .arg(10_000)
                    .query::<()>(connection)
            })?;
        }
        let mut read = Vec::new();
        for shared in self.live_breakers() {
            match self.script(&scripts().read, &shared, &shared.config, &[]) {
                Ok(reply) => read.push((shared, reply.update)),
                Err(error @ StoreError::Unavailable(_)) => return Err(error),
                Err(error) => self.refuse(&shared, &error),
            }
        }
        let backstop = self.settings.refresh_interval.as_nanos() as u64;
        for (shared, update) in read {
            shared.observe(&update, backstop);
        }
        Ok(())
    }

    /// Hands back to the server the trial slots of tickets dropped without an outcome.
    fn hand_back(&self, shared: &Shared) -> StoreResult<()> {
        loop {
            let Some(ticket) = shared.released.lock().pop() else {
                return Ok(());
            };
            let result = self.record_remote(shared, &shared.config, ticket, Outcome::Ignored, None);
            if let Err(error) = result {
                shared.released.lock().push(ticket);
                return Err(error);
            }
        }
    }

    fn record_remote(
        &self,
        shared: &Shared,
        config: &Config,
        ticket: Ticket,
        outcome: Outcome,
        trip: Option<Trip>,
    ) -> StoreResult<Option<Transition>> {
        let outcome = match outcome {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Ignored => "ignored",
        };
        let trial = ticket.trial().map_or(-1, |id| id as i64);
        let reply = self.script(
            &scripts().record,
            shared,
            config,
            &[
                ticket.generation().to_string(),
                trial.to_string(),
                outcome.to_owned(),
                trip.and_then(|t| t.open_for)
                    .map_or(-1, |d| micros(d) as i64)
                    .to_string(),
            ],
        )?;
        Ok(self.settle_reply(shared, &reply, None))
    }

    /// Adopts a script's reply; returns the transition it made (reported by the caller).
    fn settle_reply(
        &self,
        shared: &Shared,
        reply: &Reply,
        half_open_full: Option<Option<Nanos>>,
    ) -> Option<Transition> {
        let backstop = self.settings.refresh_interval.as_nanos() as u64;
        shared.adopt(&reply.update, half_open_full, backstop, Source::Reply);
        if reply.transition.is_some() {
            shared.own_transition(&reply.update);
        }
        reply.transition
    }
}

fn describe_error(error: &redis::RedisError) -> String {
    if error.is_timeout() {
        "no answer in time".to_owned()
    } else if error.is_connection_refusal() {
        format!("connection refused: {error}")
    } else {
        error.to_string()
    }
}

fn detail(error: &StoreError) -> &str {
    match error {
        StoreError::Unavailable(detail)
        | StoreError::Protocol(detail)
        | StoreError::Refused(detail) => detail,
    }
}

/// Whether a breaker with `config` can be kept in Redis: the fleet's state has no sliding window
/// yet, so a breaker with a rate threshold is refused when it is built (before anything is
/// registered with the store), rather than quietly judged by the consecutive count alone. The
/// backoff is the fleet's: the failed trials are counted in the shared hash, and each opening's
/// duration is drawn by the script that opens the circuit.
pub fn check_config(config: &Config) -> Result<(), String> {
    let mut missing = Vec::new();
    if let Some(rates) = &config.rates {
        if rates.failure_rate.is_some() {
            missing.push("failure_rate_threshold");
        }
        if rates.slow_calls.is_some() {
            missing.push("slow_call_rate_threshold");
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "a breaker kept in Redis does not support {} yet (the fleet's state has no sliding \
         window); keep this breaker in memory (store=\"memory\"), or drop {}",
        missing.join(", "),
        if missing.len() == 1 { "it" } else { "them" }
    ))
}

/// Whether an error is the server's as a whole (unreachable, not answering in time, loading,
/// refusing every write) rather than about one breaker's keys.
fn is_store_wide(error: &redis::RedisError) -> bool {
    if error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
    {
        return true;
    }
    match error.code() {
        Some(code) => matches!(
            code,
            "LOADING"
                | "BUSY"
                | "MASTERDOWN"
                | "TRYAGAIN"
                | "CLUSTERDOWN"
                | "READONLY"
                | "OOM"
                | "MISCONF"
                | "NOAUTH"
                | "WRONGPASS"
                | "NOPERM"
                | "NOSCRIPT"
        ),
        // Not a server error reply: the client's own trouble (TLS, parsing...).
        None => true,
    }
}

/// The subscriber thread: follows the channel, re-reads every breaker now and then, hands back
/// released trial slots, and reconnects once a second while the server is away. Never runs Python.
fn subscribe(store: &Weak<Inner>, pid: u32) {
    loop {
        let Some(inner) = store.upgrade() else { return };
        if std::process::id() != pid || inner.pid.load(Ordering::Acquire) != pid {
            return; // a forked child's copy: the child starts its own
        }
        let error = match follow(&inner, store, pid) {
            Ok(()) => return,
            Err(error) => error,
        };
        inner.mark_unreachable(&error);
        drop(inner);
        std::thread::sleep(RETRY_INTERVAL);
    }
}

/// One connection's life: subscribe, resync, then follow messages until it breaks. `Ok` when the
/// store is gone (nothing left to do).
fn follow(inner: &Arc<Inner>, store: &Weak<Inner>, pid: u32) -> StoreResult<()> {
    let unavailable = |e: redis::RedisError| StoreError::Unavailable(describe_error(&e));
    let deadline = Instant::now() + inner.settings.timeout;
    let mut connection = inner.connect(deadline).map_err(unavailable)?;
    connection
        .set_write_timeout(Some(inner.settings.timeout))
        .map_err(unavailable)?;
    let mut pubsub = connection.as_pubsub();
    pubsub
        .set_read_timeout(Some(inner.settings.timeout))
        .map_err(unavailable)?;
    pubsub.subscribe(&inner.channel).map_err(unavailable)?;
    pubsub
        .set_read_timeout(Some(POLL_INTERVAL))
        .map_err(unavailable)?;
    inner.resync(true)?;
    inner.mark_reachable();
    let refresh = inner.settings.refresh_interval;
    let mut last_resync = Instant::now();
    let mut last_probe = Instant::now();
    let mut last_chores = Instant::now();
    loop {
        if store.strong_count() <= 1 || inner.pid.load(Ordering::Acquire) != pid {
            // Only this thread holds the store (or the process forked): done.
            return Ok(());
        }
        match pubsub.get_message() {
            Ok(message) => {
                if let Ok(payload) = message.get_payload::<String>() {
                    apply(inner, &payload);
                }
            }
            Err(error) if error.is_timeout() => {}
            Err(error) => return Err(unavailable(error)),
        }
        // The chores, at most once a poll interval however busy the channel is.
        let now = Instant::now();
        if now.duration_since(last_chores) < POLL_INTERVAL {
            continue;
        }
        last_chores = now;
        for shared in inner.live_breakers() {
            shared.flush_pending(now);
        }
        let reachable = inner.reachable.load(Ordering::Acquire);
        if !reachable && now.duration_since(last_probe) >= RETRY_INTERVAL {
            // A call found the server unreachable while this connection was quiet: probe.
            last_probe = now;
            if inner.resync(true).is_ok() {
                last_resync = now;
                inner.mark_reachable();
            }
            continue;
        }
        if reachable {
            for shared in inner.live_breakers() {
                if !shared.released.lock().is_empty() {
                    if let Err(error) = inner.hand_back(&shared) {
                        inner.fail(&shared, &error);
                    }
                }
            }
            if now.duration_since(last_resync) >= refresh {
                last_resync = now;
                inner.prune();
                if let Err(error) = inner.resync(false) {
                    inner.mark_unreachable(&error);
                }
            }
        }
    }
}

/// Applies a message from the channel to every breaker of that name in this process.
fn apply(inner: &Inner, payload: &str) {
    let Ok(message) = parse_message(payload) else {
        return; // not ours (another version, or someone else on the channel)
    };
    // A breaker on its local state refuses the state (see `Shared::adopt`) and the report (see
    // `Shared::learn`) until a re-read rejoins it; the others take both, even while a rejoin is
    // under way.
    let targets: Vec<Arc<Shared>> = inner
        .breakers
        .lock()
        .get(&message.name)
        .map(|list| list.iter().filter_map(Weak::upgrade).collect())
        .unwrap_or_default();
    let own = inner.origin();
    let backstop = inner.settings.refresh_interval.as_nanos() as u64;
    for shared in targets {
        if message.origin == *own || message.transition.is_some() {
            shared.adopt(&message.update, None, backstop, Source::Message);
            shared.learn(&message.origin, &own, &message.update, message.transition);
        } else {
            // No transition in it, but it may show one whose message this process missed.
            shared.observe(&message.update, backstop);
        }
    }
}

/// One breaker's view of a [`RedisStore`]: what a breaker's [`Store`] is when it is shared.
#[derive(Debug)]
pub struct RedisBreakerStore {
    store: RedisStore,
    shared: Arc<Shared>,
}

impl RedisBreakerStore {
    pub fn redis(&self) -> &RedisStore {
        &self.store
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.store.inner
    }

    fn reachable(&self) -> bool {
        self.inner().reachable.load(Ordering::Acquire)
    }

    /// Going on with the local state (the server is away, or refuses this breaker's keys).
    fn local_only(&self) -> bool {
        self.shared.local_only.load(Ordering::Acquire)
    }

    /// A decision without the server, as `store_unavailable` says.
    fn acquire_locally(&self, config: &Config) -> Admission {
        let unavailable = self.inner().settings.unavailable;
        // What the operator set for the fleet holds whatever `store_unavailable` says.
        match self.shared.hold.load(Ordering::Relaxed) {
            Hold::ISOLATED => {
                return Admission::Rejected(Rejection {
                    state: State::Isolated,
                    retry_after: FOREVER,
                })
            }
            Hold::DISABLED if unavailable != Unavailable::Local => {
                return Admission::Admitted(Ticket::closed(0), None)
            }
            _ => {}
        }
        match unavailable {
            Unavailable::Local => self.shared.local.admit(config),
            Unavailable::Closed => Admission::Admitted(Ticket::closed(0), None),
            Unavailable::Open => Admission::Rejected(Rejection {
                state: State::Open,
                retry_after: RETRY_INTERVAL.as_nanos() as u64,
            }),
        }
    }

    /// An outcome recorded without the server. A ticket the fleet issued (the server went away
    /// during the call) counts in the local state as a call of its current CLOSED period.
    fn record_locally(
        &self,
        config: &Config,
        ticket: Ticket,
        outcome: Outcome,
        trip: Option<Trip>,
    ) -> Option<Transition> {
        if ticket.is_shared() && ticket.is_trial() {
            // A trial of the fleet whose outcome cannot be told: its slot on the server is handed
            // back once the server answers again (by the subscriber), instead of being held
            // until trial_timeout.
            self.shared.released.lock().push(ticket);
        }
        if self.inner().settings.unavailable != Unavailable::Local {
            return None;
        }
        if !ticket.is_shared() {
            return self.shared.local.settle(config, ticket, outcome, trip);
        }
        match self.shared.local.admit(config) {
            Admission::Admitted(local, _) if !local.is_trial() => {
                self.shared.local.settle(config, local, outcome, trip)
            }
            Admission::Admitted(local, transition) => {
                // Only a trial could be admitted: this outcome was not one. Give the slot back.
                debug_assert!(transition.is_none() || local.is_trial());
                self.shared.local.release(config, local);
                transition
            }
            Admission::Rejected(_) => None,
        }
    }

    fn unreachable(&self, error: &StoreError) {
        self.inner().fail(&self.shared, error);
        // Whichever thread degrades the store's breakers (the first to find the server gone),
        // this one goes on locally only once its own breaker's state is carried over.
        self.shared.degrade();
    }

    fn snapshot_locally(&self, config: &Config) -> Snapshot {
        let unavailable = self.inner().settings.unavailable;
        if unavailable == Unavailable::Local {
            return self.shared.local.view(config);
        }
        // As `acquire_locally` decides: what the operator set for the fleet first, else what
        // `store_unavailable` says.
        let retry = RETRY_INTERVAL.as_nanos() as u64;
        let (state, retry_after, open_duration) = match self.shared.hold.load(Ordering::Relaxed) {
            Hold::ISOLATED => (State::Isolated, FOREVER, FOREVER),
            Hold::DISABLED => (State::Disabled, 0, config.recovery_timeout),
            _ if unavailable == Unavailable::Closed => (State::Closed, 0, config.recovery_timeout),
            _ => (State::Open, retry, retry),
        };
        Snapshot {
            state,
            failure_count: 0,
            success_count: 0,
            trials_in_flight: 0,
            last_failure_time: None,
            retry_after,
            open_duration,
        }
    }

    /// `reset()` (`to`: CLOSED), `open(duration)` (OPEN), `isolate()` (ISOLATED) or `disable()`
    /// (DISABLED), for the fleet and for the local state.
    fn manual(
        &self,
        config: &Config,
        to: State,
        duration: Option<Nanos>,
    ) -> StoreResult<Option<Transition>> {
        if !self.local_only() {
            let duration_arg = duration.map_or(-1, |d| micros(d) as i64).to_string();
            match self.inner().script(
                &scripts().manual,
                &self.shared,
                config,
                &[to.as_str().to_owned(), duration_arg],
            ) {
                Ok(reply) => {
                    // The local state follows, for when the server goes away.
                    let _ = self.manual_locally(config, to, duration);
                    return Ok(self.inner().settle_reply(&self.shared, &reply, None));
                }
                Err(error) => self.unreachable(&error),
            }
        }
        Ok(self.manual_locally(config, to, duration))
    }

    fn manual_locally(
        &self,
        config: &Config,
        to: State,
        duration: Option<Nanos>,
    ) -> Option<Transition> {
        let local = &self.shared.local;
        // Without the server, the operator's move is this process's until it rejoins (with
        // it, the reply sets the same).
        self.shared.hold.store(Hold::of(to), Ordering::Relaxed);
        let result = match to {
            State::Open => local.force_open(config, duration),
            State::Isolated => local.isolate(config),
            State::Disabled => local.disable(config),
            State::Closed | State::HalfOpen => local.reset(config),
        };
        result.ok().flatten()
    }
}

impl Store for RedisBreakerStore {
    #[inline]
    fn admit_closed(&self) -> Option<Ticket> {
        let summary = self.shared.summary.load(Ordering::Acquire);
        (summary & Summary::STATE_BITS == Summary::CLOSED)
            .then(|| Ticket::shared(summary >> Summary::GENERATION_SHIFT, None))
    }

    #[inline]
    fn settle_quiet(&self, ticket: Ticket, outcome: Outcome) -> bool {
        if !ticket.is_shared() || ticket.is_trial() {
            return false;
        }
        let summary = self.shared.summary.load(Ordering::Acquire) & !Summary::NEWS;
        match outcome {
            Outcome::Success => summary == Summary::quiet_closed(ticket.generation()),
            // An ignored outcome of a call admitted while CLOSED changes nothing, late or not.
            Outcome::Ignored => true,
            Outcome::Failure => false,
        }
    }

    // Not inlined into the bindings: the in-memory store's hot path, beside it in the same
    // `match`, stays as small as it was.
    #[inline(never)]
    fn try_acquire(&self, config: &Config) -> Option<Admission> {
        let summary = self.shared.summary.load(Ordering::Acquire);
        let generation = summary >> Summary::GENERATION_SHIFT;
        match summary & Summary::STATE_BITS {
            Summary::CLOSED => Some(Admission::Admitted(Ticket::shared(generation, None), None)),
            Summary::OPEN | Summary::HALF_OPEN => {
                let deadline = self.shared.deadline.load(Ordering::Relaxed);
                if deadline == ISOLATED_DEADLINE {
                    return Some(Admission::Rejected(Rejection {
                        state: State::Isolated,
                        retry_after: FOREVER,
                    }));
                }
                let now = mono();
                if now >= deadline {
                    return None;
                }
                let open = summary & Summary::STATE_BITS == Summary::OPEN;
                Some(Admission::Rejected(Rejection {
                    state: if open { State::Open } else { State::HalfOpen },
                    retry_after: if open { deadline - now } else { 0 },
                }))
            }
            _ if self.local_only() => Some(self.acquire_locally(config)),
            // Disabled for the fleet: every call passes, and its outcome counts nowhere (see
            // `try_record`).
            _ if self.shared.hold.load(Ordering::Relaxed) == Hold::DISABLED => {
                Some(Admission::Admitted(Ticket::shared(generation, None), None))
            }
            _ => None,
        }
    }

    fn acquire(&self, config: &Config) -> StoreResult<Admission> {
        if let Some(admission) = self.try_acquire(config) {
            return Ok(admission);
        }
        if self.local_only() {
            return Ok(self.acquire_locally(config));
        }
        self.inner().ensure_subscriber();
        match self
            .inner()
            .script(&scripts().acquire, &self.shared, config, &[])
        {
            Ok(reply) => {
                let full = (!reply.admitted && reply.update.state == State::HalfOpen)
                    .then_some(reply.remaining);
                let transition = self.inner().settle_reply(&self.shared, &reply, full);
                if reply.admitted {
                    let generation = reply.update.generation & Summary::GENERATION_MASK;
                    let ticket = Ticket::shared(generation, reply.trial);
                    Ok(Admission::Admitted(ticket, transition))
                } else {
                    // The transition (if any) was ours to report, but a rejection has no place
                    // for it: OPEN -> HALF_OPEN is always followed by an admission here.
                    Ok(Admission::Rejected(Rejection {
                        state: reply.update.state,
                        retry_after: match reply.update.state {
                            State::Open => reply.remaining.unwrap_or(0),
                            State::Isolated => FOREVER,
                            _ => 0,
                        },
                    }))
                }
            }
            Err(error) => {
                self.unreachable(&error);
                Ok(self.acquire_locally(config))
            }
        }
    }

    #[inline(never)]
    fn try_record(
        &self,
        config: &Config,
        ticket: Ticket,
        outcome: Outcome,
        trip: Option<Trip>,
    ) -> Option<Option<Transition>> {
        if !ticket.is_shared() {
            return Some(self.record_locally(config, ticket, outcome, trip));
        }
        if !ticket.is_trial() {
            let summary = self.shared.summary.load(Ordering::Acquire) & !Summary::NEWS;
            // A call of the period the fleet has been disabled in counts nowhere (as the in-memory
            // breaker's), whatever it asks for.
            if self.shared.hold.load(Ordering::Relaxed) == Hold::DISABLED
                && summary >> Summary::GENERATION_SHIFT == ticket.generation()
            {
                return Some(None);
            }
            let quiet = Summary::quiet_closed(ticket.generation());
            if trip.is_none() {
                match outcome {
                    Outcome::Success if summary == quiet => return Some(None),
                    // An ignored outcome of a call admitted while CLOSED changes nothing, late or
                    // not.
                    Outcome::Ignored => return Some(None),
                    _ => {}
                }
            }
        }
        if self.local_only() {
            return Some(self.record_locally(config, ticket, outcome, trip));
        }
        None
    }

    fn record(
        &self,
        config: &Config,
        ticket: Ticket,
        outcome: Outcome,
        trip: Option<Trip>,
    ) -> StoreResult<Option<Transition>> {
        if let Some(result) = self.try_record(config, ticket, outcome, trip) {
            return Ok(result);
        }
        self.inner().ensure_subscriber();
        match self
            .inner()
            .record_remote(&self.shared, config, ticket, outcome, trip)
        {
            Ok(transition) => Ok(transition),
            Err(error) => {
                self.unreachable(&error);
                Ok(self.record_locally(config, ticket, outcome, trip))
            }
        }
    }

    fn release(&self, config: &Config, ticket: Ticket) {
        if !ticket.is_shared() {
            self.shared.local.release(config, ticket);
        } else if ticket.is_trial() {
            // No I/O here: the subscriber thread (or this breaker's next call) hands it back.
            self.shared.released.lock().push(ticket);
        }
    }

    fn snapshot(&self, config: &Config) -> StoreResult<Snapshot> {
        if !self.local_only() {
            match self
                .inner()
                .script(&scripts().read, &self.shared, config, &[])
            {
                Ok(reply) => {
                    self.inner().settle_reply(&self.shared, &reply, None);
                    return Ok(reply.update.snapshot(config));
                }
                Err(error) => self.unreachable(&error),
            }
        }
        Ok(self.snapshot_locally(config))
    }

    fn reset(&self, config: &Config) -> StoreResult<Option<Transition>> {
        self.manual(config, State::Closed, None)
    }

    fn force_open(
        &self,
        config: &Config,
        duration: Option<Nanos>,
    ) -> StoreResult<Option<Transition>> {
        self.manual(config, State::Open, duration)
    }

    fn isolate(&self, config: &Config) -> StoreResult<Option<Transition>> {
        self.manual(config, State::Isolated, None)
    }

    fn disable(&self, config: &Config) -> StoreResult<Option<Transition>> {
        self.manual(config, State::Disabled, None)
    }

    fn describe(&self) -> String {
        self.store.url().to_owned()
    }

    fn is_reachable(&self) -> bool {
        self.reachable() && !self.local_only()
    }

    #[inline]
    fn has_news(&self) -> bool {
        self.shared.summary.load(Ordering::Relaxed) & Summary::NEWS != 0
    }

    fn take_news(&self) -> Vec<Notice> {
        {
            let _cache = self.shared.cache.lock();
            self.shared
                .summary
                .fetch_and(!Summary::NEWS, Ordering::AcqRel);
        }
        let mut news = std::mem::take(&mut *self.inner().notices.lock());
        news.append(&mut self.shared.news.lock());
        news
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(redact("redis://:secret@host:6379/0"), "redis://host:6379/0");
        assert_eq!(
            redact("rediss://user:secret@host:6380/1?x=secret"),
            "rediss://user@host:6380/1"
        );
        assert_eq!(redact("redis://host"), "redis://host");
        assert_eq!(redact("unix:///tmp/redis.sock"), "unix:///tmp/redis.sock");
    }

    #[test]
    fn bad_urls_and_settings_are_refused_naming_the_argument() {
        let settings = RedisSettings::default;
        for url in ["http://host", "host:6379", "", "redis://host:notaport"] {
            let error = RedisStore::new(url, settings()).unwrap_err();
            assert_eq!(error.argument, "url", "{url}");
        }
        let error = RedisStore::new("redis://:hunter2@host:99999999", settings()).unwrap_err();
        assert!(!error.message.contains("hunter2"), "{}", error.message);
        for (argument, bad) in [
            (
                "namespace",
                RedisSettings {
                    namespace: String::new(),
                    ..settings()
                },
            ),
            (
                "namespace",
                RedisSettings {
                    namespace: "a{b}".into(),
                    ..settings()
                },
            ),
            (
                "timeout",
                RedisSettings {
                    timeout: Duration::ZERO,
                    ..settings()
                },
            ),
            (
                "refresh_interval",
                RedisSettings {
                    refresh_interval: Duration::ZERO,
                    ..settings()
                },
            ),
            (
                "key_ttl",
                RedisSettings {
                    key_ttl: Duration::from_millis(10),
                    ..settings()
                },
            ),
        ] {
            let error = RedisStore::new("redis://127.0.0.1/", bad).unwrap_err();
            assert_eq!(error.argument, argument);
        }
    }

    #[test]
    fn messages_round_trip_names_with_spaces() {
        let message = parse_message(
            "abc inc1 7 3 1 5 0 1700000000000000 30000000 0 1 failure_threshold 4 0 \
             1700000000000001 my service name",
        )
        .unwrap();
        assert_eq!(message.name, "my service name");
        assert_eq!(message.update.state, State::Open);
        assert_eq!(message.update.open_remaining, 30 * NANOS_PER_SECOND);
        let transition = message.transition.unwrap();
        assert_eq!(
            (transition.from, transition.to),
            (State::Closed, State::Open)
        );
        assert_eq!(transition.reason, Reason::FailureThreshold);
        assert_eq!(transition.failures_before, 4);
        assert!(parse_message("too few fields").is_err());
    }

    fn shared() -> Shared {
        Shared {
            name: "n".into(),
            key: "{fastbreaker:n}".into(),
            trials_key: "{fastbreaker:n}:trials".into(),
            config: Config::default(),
            summary: AtomicU64::new(Summary::UNKNOWN),
            deadline: AtomicU64::new(0),
            cache: Mutex::new(Cache::default()),
            local: MemoryStore::default(),
            news: Mutex::new(Vec::new()),
            released: Mutex::new(Vec::new()),
            local_only: AtomicBool::new(false),
            hold: AtomicU8::new(Hold::NONE),
        }
    }

    fn update(seq: u64, state: State, incarnation: &str) -> Update {
        Update {
            incarnation: incarnation.into(),
            seq,
            generation: seq,
            state,
            failure_count: 0,
            success_count: 0,
            last_failure_time: None,
            open_remaining: NANOS_PER_SECOND,
            trials_in_flight: 0,
            open_duration: None,
        }
    }

    fn learned(shared: &Shared) -> Vec<(State, State, Reason)> {
        std::mem::take(&mut *shared.news.lock())
            .into_iter()
            .filter_map(|notice| match notice {
                Notice::Learned(t) => Some((t.from, t.to, t.reason)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_change_found_by_re_reading_yields_to_its_own_message() {
        let shared = shared();
        shared.observe(&update(1, State::Closed, "a"), 0);
        // The re-read finds the circuit open before the message that opened it arrives...
        shared.observe(&update(5, State::Open, "a"), 0);
        assert!(learned(&shared).is_empty(), "held for its message");
        // ... which then arrives, with the real reason.
        let message =
            parse_message("peer a 5 5 1 3 0 1 1000000 0 1 failure_threshold 3 0 1 n").unwrap();
        shared.adopt(&message.update, None, 0, Source::Message);
        shared.learn("peer", "me", &message.update, message.transition);
        shared.flush_pending(Instant::now() + SYNC_GRACE);
        assert_eq!(
            learned(&shared),
            [(State::Closed, State::Open, Reason::FailureThreshold)]
        );
    }

    #[test]
    fn a_change_without_a_message_is_reported_after_the_grace() {
        let shared = shared();
        shared.observe(&update(3, State::Open, "a"), 0);
        // A server restarted empty: another incarnation, seq back to 0, closed.
        shared.observe(&update(0, State::Closed, ""), 0);
        shared.flush_pending(Instant::now());
        assert!(learned(&shared).is_empty(), "not before the grace");
        shared.flush_pending(Instant::now() + SYNC_GRACE);
        assert_eq!(
            learned(&shared),
            [(State::Open, State::Closed, Reason::Synchronised)]
        );
        shared.flush_pending(Instant::now() + SYNC_GRACE);
        assert!(learned(&shared).is_empty(), "once");
    }

    #[test]
    fn a_rebuilt_state_explained_by_a_message_is_reported_once() {
        let shared = shared();
        shared.observe(&update(3, State::Closed, "a"), 0);
        // Rebuilt (another incarnation) and opened at once; the opening's message follows.
        shared.observe(&update(2, State::Open, "b"), 0);
        let message =
            parse_message("peer b 2 1 1 3 0 1 1000000 0 1 failure_threshold 3 0 1 n").unwrap();
        shared.adopt(&message.update, None, 0, Source::Message);
        shared.learn("peer", "me", &message.update, message.transition);
        shared.flush_pending(Instant::now() + SYNC_GRACE);
        assert_eq!(
            learned(&shared),
            [(State::Closed, State::Open, Reason::FailureThreshold)]
        );
    }

    #[test]
    fn the_summary_keeps_state_failures_and_generation_apart() {
        let summary = Summary::of(State::Closed, 41, 0);
        assert_eq!(summary, Summary::quiet_closed(41));
        assert_ne!(Summary::of(State::Closed, 41, 1), Summary::quiet_closed(41));
        assert_eq!(
            Summary::of(State::Open, 41, 0) & Summary::STATE_BITS,
            Summary::OPEN
        );
        assert_eq!(
            Summary::of(State::HalfOpen, 2, 3) >> Summary::GENERATION_SHIFT,
            2
        );
        assert_eq!(
            Summary::of(State::Closed, u64::MAX, 0) & (Summary::NEWS | Summary::STATE_BITS),
            0
        );
    }
}
