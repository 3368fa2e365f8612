//! The long-running daemon: a sync at start, then on a schedule and on demand (SIGUSR1), one run
//! at a time, stopping at a safe point on SIGTERM/SIGINT within a deadline.
//!
//! Signals become typed [`Control`] messages; the scheduler only sees those, so tests drive it
//! with injected triggers and paused time instead of real signals and sleeps.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::sync::Trigger;

/// What the outside world can ask of the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Run as soon as possible; during a run, queue one follow-up run (never more).
    SyncNow,
    /// Personio reported changes to these absence periods (v2 ids, from a webhook). For now a
    /// run of everything, exactly as [`Control::SyncNow`].
    PeriodsChanged(Vec<String>),
    /// Stop at the next safe point.
    Shutdown,
}

/// What a run tells the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Done,
    /// It failed, or gave up on writes that failed transiently: run again sooner than the
    /// interval rather than leave absences missing for an hour.
    RetrySoon,
}

/// One sync run. The token is cancelled when the daemon stops; the run should return at its next
/// safe point (between writes).
pub trait SyncRunner: Send + Sync + 'static {
    fn run(
        &self,
        trigger: Trigger,
        cancel: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = RunOutcome> + Send + '_>>;

    /// Releases what the runs share (the store's pool) once the last run is over or abandoned.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}

/// How the daemon ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Stopped at a safe point.
    Clean,
    /// The run in progress did not reach a safe point within the deadline and was abandoned;
    /// the journal makes that safe, the next start resolves it.
    DeadlineExceeded,
}

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub interval: Duration,
    pub shutdown_deadline: Duration,
    /// The wait before the run after one that asked to retry soon; doubles each time, capped at
    /// the interval, and starts over after a run that is done.
    pub retry_backoff: Duration,
}

/// Runs the scheduler until `Control::Shutdown` arrives or the control channel closes.
pub async fn run(
    runner: Arc<dyn SyncRunner>,
    schedule: Schedule,
    mut controls: mpsc::Receiver<Control>,
) -> Exit {
    let cancel = CancellationToken::new();
    let mut running: Option<JoinHandle<RunOutcome>> =
        Some(spawn_run(&runner, Trigger::Startup, &cancel));
    let mut next_due = Instant::now() + schedule.interval;
    let mut follow_up = false;
    let mut backoff = schedule.retry_backoff;

    loop {
        tokio::select! {
            control = controls.recv() => match control {
                Some(Control::SyncNow | Control::PeriodsChanged(_)) if running.is_some() => {
                    if !follow_up {
                        tracing::info!("sync requested during a run; one follow-up run queued");
                    }
                    follow_up = true;
                }
                Some(Control::SyncNow | Control::PeriodsChanged(_)) => {
                    next_due = Instant::now() + schedule.interval;
                    running = Some(spawn_run(&runner, Trigger::Signal, &cancel));
                }
                Some(Control::Shutdown) | None => break,
            },
            _ = tokio::time::sleep_until(next_due), if running.is_none() => {
                next_due = Instant::now() + schedule.interval;
                running = Some(spawn_run(&runner, Trigger::Schedule, &cancel));
            },
            outcome = async { running.as_mut().expect("guarded").await }, if running.is_some() => {
                running = None;
                let now = Instant::now();
                // A run that panicked counts as one to retry.
                if outcome.unwrap_or(RunOutcome::RetrySoon) == RunOutcome::RetrySoon {
                    next_due = next_due.min(now + backoff);
                    tracing::info!(retry_in_secs = backoff.as_secs(), "next run sooner: the last one left work undone");
                    backoff = (backoff * 2).min(schedule.interval);
                } else {
                    backoff = schedule.retry_backoff;
                }
                if follow_up {
                    follow_up = false;
                    next_due = now + schedule.interval;
                    running = Some(spawn_run(&runner, Trigger::Signal, &cancel));
                } else if now >= next_due {
                    // The run overran its next tick: start once now rather than catching up.
                    next_due = now + schedule.interval;
                    running = Some(spawn_run(&runner, Trigger::Schedule, &cancel));
                }
            },
        }
    }

    cancel.cancel();
    // One deadline for everything a stop waits for: the run in progress, then closing the store.
    let stop_by = Instant::now() + schedule.shutdown_deadline;
    let mut exit = Exit::Clean;
    if let Some(task) = running {
        tracing::info!(
            deadline_secs = schedule.shutdown_deadline.as_secs_f64(),
            "stopping: waiting for the run in progress to reach a safe point"
        );
        if tokio::time::timeout_at(stop_by, task).await.is_err() {
            tracing::warn!("run did not reach a safe point before the deadline; abandoning it");
            exit = Exit::DeadlineExceeded;
        }
    }
    if tokio::time::timeout_at(stop_by, runner.close())
        .await
        .is_err()
    {
        tracing::warn!("the store did not close before the deadline; leaving it");
        exit = Exit::DeadlineExceeded;
    }
    if exit == Exit::Clean {
        tracing::info!("stopped");
    }
    exit
}

fn spawn_run(
    runner: &Arc<dyn SyncRunner>,
    trigger: Trigger,
    cancel: &CancellationToken,
) -> JoinHandle<RunOutcome> {
    let runner = Arc::clone(runner);
    let cancel = cancel.child_token();
    tokio::spawn(async move { runner.run(trigger, cancel).await })
}

/// Turns process signals into controls: SIGUSR1 → `SyncNow`, SIGTERM/SIGINT → `Shutdown`.
pub fn forward_signals(controls: mpsc::Sender<Control>) -> std::io::Result<JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::spawn(async move {
        loop {
            let control = tokio::select! {
                _ = usr1.recv() => { tracing::info!(signal = "SIGUSR1", "sync requested"); Control::SyncNow }
                _ = term.recv() => { tracing::info!(signal = "SIGTERM", "stop requested"); Control::Shutdown }
                _ = int.recv() => { tracing::info!(signal = "SIGINT", "stop requested"); Control::Shutdown }
            };
            // A full queue already holds a request that covers this one.
            if let Err(mpsc::error::TrySendError::Closed(_)) = controls.try_send(control) {
                break;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records when each run started and ended; each run takes `duration` unless cancelled (or
    /// ignores cancellation when `stubborn`).
    struct FakeRunner {
        origin: Instant,
        duration: Duration,
        stubborn: bool,
        log: Mutex<Vec<(Trigger, u64, u64)>>,
        /// What the next runs return; `Done` once used up.
        outcomes: Mutex<std::collections::VecDeque<RunOutcome>>,
        /// How long closing takes.
        close: Duration,
    }

    impl FakeRunner {
        fn new(duration: Duration, stubborn: bool) -> Arc<Self> {
            Arc::new(Self {
                origin: Instant::now(),
                duration,
                stubborn,
                log: Mutex::new(Vec::new()),
                outcomes: Mutex::default(),
                close: Duration::ZERO,
            })
        }
        fn runs(&self) -> Vec<(Trigger, u64, u64)> {
            self.log.lock().unwrap().clone()
        }
    }

    impl SyncRunner for FakeRunner {
        fn run(
            &self,
            trigger: Trigger,
            cancel: CancellationToken,
        ) -> Pin<Box<dyn Future<Output = RunOutcome> + Send + '_>> {
            Box::pin(async move {
                let start = (Instant::now() - self.origin).as_secs();
                if self.stubborn {
                    tokio::time::sleep(self.duration).await;
                } else {
                    tokio::select! {
                        _ = tokio::time::sleep(self.duration) => {}
                        _ = cancel.cancelled() => {}
                    }
                }
                let end = (Instant::now() - self.origin).as_secs();
                self.log.lock().unwrap().push((trigger, start, end));
                let next = self.outcomes.lock().unwrap().pop_front();
                next.unwrap_or(RunOutcome::Done)
            })
        }

        fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
            Box::pin(tokio::time::sleep(self.close))
        }
    }

    fn schedule(interval: u64) -> Schedule {
        Schedule {
            interval: Duration::from_secs(interval),
            shutdown_deadline: Duration::from_secs(30),
            retry_backoff: Duration::from_secs(60),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_that_left_work_undone_is_followed_sooner_with_growing_backoff() {
        let runner = FakeRunner::new(Duration::from_secs(10), false);
        runner.outcomes.lock().unwrap().extend([
            RunOutcome::RetrySoon,
            RunOutcome::RetrySoon,
            RunOutcome::RetrySoon,
            RunOutcome::RetrySoon,
        ]);
        let (tx, rx) = mpsc::channel(4);
        let daemon = tokio::spawn(run(runner.clone(), schedule(300), rx));
        tokio::time::sleep(Duration::from_secs(1500)).await;
        tx.send(Control::Shutdown).await.unwrap();
        daemon.await.unwrap();
        let starts: Vec<u64> = runner.runs().iter().map(|r| r.1).collect();
        // Waits after each run of 60, 120 and 240 s, then the schedule's own tick (750) comes
        // before the capped 300 s; the fifth run is done, so the interval rules again.
        assert_eq!(starts, vec![0, 70, 200, 450, 750, 1050, 1350]);
    }

    #[tokio::test(start_paused = true)]
    async fn runs_at_start_then_every_interval() {
        let runner = FakeRunner::new(Duration::from_secs(10), false);
        let (tx, rx) = mpsc::channel(4);
        let daemon = tokio::spawn(run(runner.clone(), schedule(3600), rx));
        tokio::time::sleep(Duration::from_secs(3 * 3600 + 60)).await;
        tx.send(Control::Shutdown).await.unwrap();
        assert_eq!(daemon.await.unwrap(), Exit::Clean);
        let runs = runner.runs();
        let starts: Vec<_> = runs.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(
            starts,
            vec![
                (Trigger::Startup, 0),
                (Trigger::Schedule, 3600),
                (Trigger::Schedule, 7200),
                (Trigger::Schedule, 10800)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_overrunning_run_delays_the_next_tick_without_pile_up() {
        // Each run takes 2.5 intervals: the missed ticks collapse into one run right after.
        let runner = FakeRunner::new(Duration::from_secs(250), false);
        let (tx, rx) = mpsc::channel(4);
        let daemon = tokio::spawn(run(runner.clone(), schedule(100), rx));
        tokio::time::sleep(Duration::from_secs(760)).await;
        tx.send(Control::Shutdown).await.unwrap();
        daemon.await.unwrap();
        let starts: Vec<u64> = runner.runs().iter().map(|r| r.1).collect();
        assert_eq!(starts, vec![0, 250, 500, 750]);
    }

    #[tokio::test(start_paused = true)]
    async fn sync_requests_during_a_run_queue_exactly_one_follow_up() {
        let runner = FakeRunner::new(Duration::from_secs(60), false);
        let (tx, rx) = mpsc::channel(16);
        let daemon = tokio::spawn(run(runner.clone(), schedule(3600), rx));
        tokio::time::sleep(Duration::from_secs(5)).await;
        for _ in 0..5 {
            tx.send(Control::SyncNow).await.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(300)).await;
        // Idle now: a request starts a run at once.
        tx.send(Control::SyncNow).await.unwrap();
        tokio::time::sleep(Duration::from_secs(100)).await;
        tx.send(Control::Shutdown).await.unwrap();
        daemon.await.unwrap();
        let runs: Vec<(Trigger, u64)> = runner.runs().iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(
            runs,
            vec![
                (Trigger::Startup, 0),
                (Trigger::Signal, 60),
                (Trigger::Signal, 305)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn changed_periods_start_a_run_like_a_sync_request() {
        let runner = FakeRunner::new(Duration::from_secs(60), false);
        let (tx, rx) = mpsc::channel(16);
        let daemon = tokio::spawn(run(runner.clone(), schedule(3600), rx));
        tokio::time::sleep(Duration::from_secs(5)).await;
        for id in ["a", "b"] {
            tx.send(Control::PeriodsChanged(vec![id.into()]))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_secs(200)).await;
        tx.send(Control::PeriodsChanged(vec!["c".into()]))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(100)).await;
        tx.send(Control::Shutdown).await.unwrap();
        daemon.await.unwrap();
        let runs: Vec<(Trigger, u64)> = runner.runs().iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(
            runs,
            vec![
                (Trigger::Startup, 0),
                (Trigger::Signal, 60),
                (Trigger::Signal, 205)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_cancels_the_run_at_a_safe_point() {
        let runner = FakeRunner::new(Duration::from_secs(600), false);
        let (tx, rx) = mpsc::channel(4);
        let daemon = tokio::spawn(run(runner.clone(), schedule(3600), rx));
        tokio::time::sleep(Duration::from_secs(10)).await;
        tx.send(Control::Shutdown).await.unwrap();
        assert_eq!(daemon.await.unwrap(), Exit::Clean);
        assert_eq!(runner.runs(), vec![(Trigger::Startup, 0, 10)]);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_gives_up_on_a_stuck_run_after_the_deadline() {
        let runner = FakeRunner::new(Duration::from_secs(600), true);
        let (tx, rx) = mpsc::channel(4);
        let started = Instant::now();
        let daemon = tokio::spawn(run(runner.clone(), schedule(3600), rx));
        tokio::time::sleep(Duration::from_secs(10)).await;
        tx.send(Control::Shutdown).await.unwrap();
        assert_eq!(daemon.await.unwrap(), Exit::DeadlineExceeded);
        assert_eq!(Instant::now() - started, Duration::from_secs(40));
        assert!(runner.runs().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_covers_the_run_and_the_store_close_together() {
        // A run that stops 20 s after the request and a close that would take a minute: the
        // close gets only the 10 s left of the 30 s deadline.
        let runner = Arc::new(FakeRunner {
            close: Duration::from_secs(60),
            ..Arc::into_inner(FakeRunner::new(Duration::from_secs(30), true)).unwrap()
        });
        let (tx, rx) = mpsc::channel(4);
        let started = Instant::now();
        let daemon = tokio::spawn(run(runner.clone(), schedule(3600), rx));
        tokio::time::sleep(Duration::from_secs(10)).await;
        tx.send(Control::Shutdown).await.unwrap();
        assert_eq!(daemon.await.unwrap(), Exit::DeadlineExceeded);
        assert_eq!(Instant::now() - started, Duration::from_secs(40));
        assert_eq!(runner.runs(), vec![(Trigger::Startup, 0, 30)]);

        // Idle when the stop comes: the close alone is bounded by the deadline.
        let (tx, rx) = mpsc::channel(4);
        let started = Instant::now();
        let daemon = tokio::spawn(run(runner.clone(), schedule(3600), rx));
        tokio::time::sleep(Duration::from_secs(100)).await;
        tx.send(Control::Shutdown).await.unwrap();
        assert_eq!(daemon.await.unwrap(), Exit::DeadlineExceeded);
        assert_eq!(Instant::now() - started, Duration::from_secs(130));
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_control_channel_stops_the_daemon() {
        let runner = FakeRunner::new(Duration::from_secs(1), false);
        let (tx, rx) = mpsc::channel(4);
        let daemon = tokio::spawn(run(runner.clone(), schedule(3600), rx));
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(tx);
        assert_eq!(daemon.await.unwrap(), Exit::Clean);
        assert_eq!(runner.runs().len(), 1);
    }
}
