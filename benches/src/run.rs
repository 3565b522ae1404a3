//! The runner: times one operation with criterion (its median, HTML report included) or,
//! in quick mode, once; checks its answer; records both.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::Criterion;
use tokio::runtime::Runtime;

use crate::answer::Answer;
use crate::results::{Key, Measurement, Results, Sampling};
use crate::target::Res;

/// What one execution of an operation returns: its answer, and the time of the part that
/// counts when that is not the whole execution (a first call after an untimed connect).
pub struct Outcome {
    /// The answer.
    pub answer: Answer,
    /// The timed part, if not all of it.
    pub timed: Option<Duration>,
}

impl From<Answer> for Outcome {
    fn from(answer: Answer) -> Self {
        Self {
            answer,
            timed: None,
        }
    }
}

/// Criterion settings for the benchmark's reads: 10 samples, 0.5 s warm-up, 2 s target
/// measurement, so that a full run over three targets and two data sizes stays within about
/// half an hour on a shared two-core machine. Command-line options override them.
pub fn criterion(home: &Path) -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .output_directory(home)
        .configure_from_args()
}

/// Runs and records operations.
pub struct Runner {
    /// The runtime every operation runs on (single-threaded: every method under comparison
    /// has the same client side).
    pub rt: Runtime,
    criterion: Option<Criterion>,
    criterion_home: PathBuf,
    /// What was measured so far.
    pub results: Results,
    /// Answers by key, for [`Runner::expect_same`].
    answers: HashMap<Key, Answer>,
    /// Comparisons made by [`Runner::expect_same`].
    checked: usize,
}

impl Runner {
    /// A runner; `quick` times each operation once, without criterion.
    ///
    /// # Panics
    /// When the tokio runtime cannot be built.
    pub fn new(quick: bool, criterion_home: PathBuf) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        Self {
            rt,
            criterion: (!quick).then(|| criterion(&criterion_home)),
            criterion_home,
            results: Results::default(),
            answers: HashMap::new(),
            checked: 0,
        }
    }

    /// Whether this is a quick run.
    pub fn quick(&self) -> bool {
        self.criterion.is_none()
    }

    /// Runs `f` once (untimed in a full run: it checks the operation works and keeps its
    /// answer), then times it: criterion's median, or that one run in quick mode. Returns
    /// the answer; a failure is recorded and gives `None`.
    pub fn op<F, Fut, O>(&mut self, key: Key, what: &str, mut f: F) -> Option<Answer>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Res<O>>,
        O: Into<Outcome>,
    {
        let t = Instant::now();
        let first = self.rt.block_on(f());
        let wall = t.elapsed();
        let first = match first {
            Ok(o) => o.into(),
            Err(e) => {
                self.results
                    .fail(format!("{}/{}: {e}", key.group(), key.op));
                return None;
            }
        };
        let rows = u64::try_from(first.answer.len()).ok();
        let ns = match &mut self.criterion {
            None => first.timed.unwrap_or(wall).as_secs_f64() * 1e9,
            Some(c) => {
                let failed: RefCell<Option<String>> = RefCell::new(None);
                let rt = &self.rt;
                let mut group = c.benchmark_group(key.group());
                group.bench_function(key.op.as_str(), |b| {
                    b.iter_custom(|iters| {
                        rt.block_on(async {
                            let mut total = Duration::ZERO;
                            for _ in 0..iters {
                                let t = Instant::now();
                                match f().await {
                                    Ok(o) => {
                                        let o: Outcome = o.into();
                                        total += o.timed.unwrap_or_else(|| t.elapsed());
                                        black_box(o.answer);
                                    }
                                    Err(e) => {
                                        total += t.elapsed();
                                        failed.borrow_mut().get_or_insert(e);
                                    }
                                }
                            }
                            total
                        })
                    });
                });
                group.finish();
                if let Some(e) = failed.into_inner() {
                    self.results
                        .fail(format!("{}/{}: {e}", key.group(), key.op));
                    return None;
                }
                match median(&self.criterion_home, &key) {
                    Ok(ns) => ns,
                    Err(e) => {
                        self.results
                            .fail(format!("{}/{}: {e}", key.group(), key.op));
                        return None;
                    }
                }
            }
        };
        self.results.record(Measurement {
            key: key.clone(),
            what: what.to_owned(),
            ns,
            sampling: if self.quick() {
                Sampling::Once
            } else {
                Sampling::Criterion
            },
            rows,
        });
        self.answers.insert(key, first.answer.clone());
        Some(first.answer)
    }

    /// Times `f` once (loads, refreshes, compression: too long for repeated samples, and
    /// each changes the state the next one starts from). Returns its value.
    pub fn once<F, Fut, T>(&mut self, key: Key, what: &str, rows: Option<u64>, f: F) -> Option<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Res<T>>,
    {
        let t = Instant::now();
        match self.rt.block_on(f()) {
            Ok(v) => {
                self.results.record(Measurement {
                    key,
                    what: what.to_owned(),
                    ns: t.elapsed().as_secs_f64() * 1e9,
                    sampling: Sampling::Once,
                    rows,
                });
                Some(v)
            }
            Err(e) => {
                self.results
                    .fail(format!("{}/{}: {e}", key.group(), key.op));
                None
            }
        }
    }

    /// Checks that the answer of `key` equals that of `reference` (both measured); records
    /// a failure naming the first difference otherwise.
    pub fn expect_same(&mut self, key: &Key, reference: &Key) {
        let (Some(a), Some(b)) = (self.answers.get(key), self.answers.get(reference)) else {
            return;
        };
        self.checked += 1;
        if a != b {
            let diff = a.first_difference(b);
            self.results.fail(format!(
                "{}/{} answers differently from {}/{}: {diff}",
                key.group(),
                key.op,
                reference.group(),
                reference.op
            ));
        }
    }

    /// Keeps an answer derived from a measured one (the percentage of a price change), for
    /// [`Runner::expect_same`].
    pub fn remember(&mut self, key: Key, answer: Answer) {
        self.answers.insert(key, answer);
    }

    /// How many answers [`Runner::expect_same`] compared.
    pub fn checked(&self) -> usize {
        self.checked
    }

    /// Forgets the answers of one data set (they are large; comparisons are within one).
    pub fn forget_answers(&mut self, data: &str) {
        self.answers.retain(|k, _| k.data != data);
    }

    /// Criterion's closing summary (no-op in quick mode).
    pub fn finish(&mut self) {
        if let Some(c) = self.criterion.take() {
            c.final_summary();
        }
    }
}

/// Criterion's median estimate of `key`, from `<home>/<group>/<op>/new/estimates.json`.
fn median(home: &Path, key: &Key) -> Res<f64> {
    let path = home
        .join(key.group())
        .join(&key.op)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("could not read {}: {e}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("could not parse {}: {e}", path.display()))?;
    json["median"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| format!("no median in {}", path.display()))
}
