//! Price alerts: the rules users set up (a price below or above a threshold, the cheapest share
//! of the coming day, a price under today's average, a negative price ahead, tomorrow's prices
//! published) and their evaluation against a region's known prices.
//!
//! A rule fires once per *occurrence*: the first run of consecutive intervals meeting its
//! condition, keyed by the run's start (or, for `tomorrow_published`, by tomorrow's date). The
//! key depends only on the prices, so re-evaluating the same data — a re-fetched batch, another
//! node — gives the same key and storage de-duplicates on `(rule_id, occurrence)`. A key the rule
//! has fired for never fires again; a new key fires once the cool-down has passed and outside
//! quiet hours, and a suppressed key stays unrecorded so it can still fire while it is current.
//!
//! [`AlertIndex`] evaluates every rule of a region against one shared precomputation of the
//! prices (prefix extremes, the day's sorted prices, today's mean, as exactly ordered integers:
//! see `FIXED_SCALE`), so a threshold rule costs one or two binary searches over integers, a rule
//! without a threshold a table look-up (its occurrence is worked out once per parameter), and
//! none allocates unless it fires; the text of keys and summaries is shared between firings.

use std::collections::HashMap;

use jiff::civil::{Date, Time};
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::calendar::day_bounds;
use super::price::PricePoint;
use super::region::Region;

/// How far ahead the price conditions look (`negative_ahead` has its own hours).
const DAY_AHEAD: SignedDuration = SignedDuration::from_hours(24);

/// What a rule watches for. Thresholds are in the region's currency per the unit its prices are
/// stored in (the same unit as [`PricePoint::price`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertCondition {
    /// An interval in the next 24 h priced strictly below `threshold`.
    PriceBelow { threshold: Decimal },
    /// An interval in the next 24 h priced strictly above `threshold`.
    PriceAbove { threshold: Decimal },
    /// An interval among the cheapest `percent` % (1–100) of the known intervals of the next
    /// 24 h (ties with the last one included count as cheap too).
    CheapestShare { percent: u8 },
    /// An interval in the next 24 h at least `percent` % (0–99) under the mean of the known
    /// prices of the region's local today.
    BelowDailyAverage { percent: u8 },
    /// A negative price in the next `hours` (1–48).
    NegativeAhead { hours: u16 },
    /// Prices are known for the region's local tomorrow.
    TomorrowPublished,
}

impl AlertCondition {
    /// The serde tag, also the prefix of every occurrence key.
    pub fn kind(&self) -> &'static str {
        match self {
            AlertCondition::PriceBelow { .. } => "price_below",
            AlertCondition::PriceAbove { .. } => "price_above",
            AlertCondition::CheapestShare { .. } => "cheapest_share",
            AlertCondition::BelowDailyAverage { .. } => "below_daily_average",
            AlertCondition::NegativeAhead { .. } => "negative_ahead",
            AlertCondition::TomorrowPublished => "tomorrow_published",
        }
    }

    /// Refuses parameters outside their ranges, with a message fit for a 422.
    pub fn check(&self) -> Result<(), String> {
        match *self {
            AlertCondition::CheapestShare { percent } if !(1..=100).contains(&percent) => Err(
                format!("cheapest_share percent must be between 1 and 100, got {percent}"),
            ),
            AlertCondition::BelowDailyAverage { percent } if percent > 99 => Err(format!(
                "below_daily_average percent must be between 0 and 99, got {percent}"
            )),
            AlertCondition::NegativeAhead { hours } if !(1..=48).contains(&hours) => Err(format!(
                "negative_ahead hours must be between 1 and 48, got {hours}"
            )),
            _ => Ok(()),
        }
    }

    /// A short human description, independent of the region ("price below 0.20").
    pub fn describe(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_description(&mut text);
        text
    }

    /// Writes [`describe`](Self::describe)'s text to `out`.
    fn write_description(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        match self {
            AlertCondition::PriceBelow { threshold } => write!(out, "price below {threshold}"),
            AlertCondition::PriceAbove { threshold } => write!(out, "price above {threshold}"),
            AlertCondition::CheapestShare { percent } => {
                write!(out, "among the cheapest {percent} % of the next 24 h")
            }
            AlertCondition::BelowDailyAverage { percent } => {
                write!(out, "at least {percent} % under today's average")
            }
            AlertCondition::NegativeAhead { hours } => {
                write!(out, "a negative price within the next {hours} h")
            }
            AlertCondition::TomorrowPublished => out.write_str("tomorrow's prices published"),
        }
    }
}

/// A daily span of local wall-clock time in which a rule stays silent: `[start, end)`, wrapping
/// past midnight when `start > end`; `start == end` is never quiet (an empty span, not a whole
/// day, so a mistyped pair cannot silence a rule for good).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub start: Time,
    pub end: Time,
}

impl QuietHours {
    /// True when local time `local` falls inside the span.
    pub fn contains(&self, local: Time) -> bool {
        if self.start <= self.end {
            self.start <= local && local < self.end
        } else {
            local >= self.start || local < self.end
        }
    }
}

/// One user's alert rule with the state evaluation keeps: when it last fired and for which
/// occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRule {
    pub id: String,
    pub user_id: String,
    pub region: Region,
    pub condition: AlertCondition,
    /// In the region's local time.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// Least time between two firings.
    pub cooldown: SignedDuration,
    pub enabled: bool,
    #[serde(default)]
    pub last_fired_at: Option<Timestamp>,
    /// The occurrence key of the last firing.
    #[serde(default)]
    pub last_occurrence: Option<String>,
}

/// A rule fired: what the outbox delivers and the history stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    pub rule_id: String,
    pub user_id: String,
    pub region: Region,
    /// Stable key of what happened (`price_below@2026-11-30T17:00:00Z`,
    /// `tomorrow_published@2026-12-01`): the same prices always give the same key.
    pub occurrence: String,
    /// Start of the interval that triggered it (the first qualifying one not yet ended).
    pub at: Timestamp,
    /// That interval's price; `None` for `tomorrow_published`.
    pub price: Option<Decimal>,
    pub summary: String,
}

impl AlertRule {
    /// Refuses a condition outside its ranges or a negative cool-down (message fit for a 422).
    pub fn check(&self) -> Result<(), String> {
        self.condition.check()?;
        if self.cooldown.is_negative() {
            return Err(format!(
                "cooldown must not be negative, got {}",
                self.cooldown
            ));
        }
        Ok(())
    }

    /// Evaluates this one rule against its region's known `points` (other regions' points are
    /// ignored) at `now`, recording the firing in the rule. Many rules of a region are cheaper
    /// through [`AlertIndex::evaluate`].
    pub fn evaluate(&mut self, points: &[PricePoint], now: Timestamp) -> Option<Firing> {
        if !self.enabled {
            return None;
        }
        let outlook = Outlook::new(self.region, points, now);
        let mut memo = Memo::new(&outlook);
        let rule = Hot::new(self);
        let hit = outlook.hit(&rule, &mut memo)?;
        if rule.seen == Some(hit.mark) {
            return None;
        }
        self.fire(hit, &outlook, &mut memo)
    }

    /// The last occurrence, parsed; `None` when absent, unreadable or of another condition kind
    /// (the condition was edited), which then never matches.
    fn seen(&self) -> Option<Mark> {
        let (kind, rest) = self.last_occurrence.as_deref()?.split_once('@')?;
        if kind != self.condition.kind() {
            return None;
        }
        match self.condition {
            AlertCondition::TomorrowPublished => rest.parse().ok().map(Mark::Day),
            _ => rest.parse().ok().map(Mark::Run),
        }
    }

    /// Whether the cool-down since the last firing has passed at `now`.
    fn cooled_down(&self, now: Timestamp) -> bool {
        match self.last_fired_at {
            None => true,
            Some(last) => last
                .checked_add(self.cooldown)
                .is_ok_and(|ready| now >= ready),
        }
    }

    fn quiet(&self, local_now: Time) -> bool {
        self.quiet_hours.is_some_and(|q| q.contains(local_now))
    }

    /// Fires for `hit`, an occurrence of the (enabled) rule's condition other than the one it
    /// last fired for, when the cool-down has passed and `now` is outside quiet hours; records
    /// it in the rule.
    fn fire(&mut self, hit: Hit, outlook: &Outlook<'_>, memo: &mut Memo) -> Option<Firing> {
        if !self.cooled_down(outlook.now) || self.quiet(outlook.local_now) {
            return None;
        }
        let occurrence = memo.key(self.condition.kind(), hit);
        self.last_fired_at = Some(outlook.now);
        match &mut self.last_occurrence {
            // Reuses the buffer of the key it replaces.
            Some(last) => {
                last.clear();
                last.push_str(&occurrence);
            }
            last => *last = Some(occurrence.clone()),
        }
        let point = outlook.points[hit.index];
        Some(Firing {
            rule_id: self.id.clone(),
            user_id: self.user_id.clone(),
            region: self.region,
            occurrence,
            at: point.start,
            price: match self.condition {
                AlertCondition::TomorrowPublished => None,
                _ => Some(point.price),
            },
            summary: self.summary(hit, outlook, memo),
        })
    }

    /// One line for the email and the webhook, in the region's local time:
    /// `"{region}: {condition} — {price} {currency}/{unit} from {local start}"`, or
    /// `"{region}: prices for {date} are published"`.
    ///
    /// The summary depends on the condition and the hit only, and for a condition without a
    /// threshold the hit on its parameter only: those are written once per evaluation.
    fn summary(&self, hit: Hit, outlook: &Outlook<'_>, memo: &mut Memo) -> String {
        let shared = match self.condition {
            AlertCondition::PriceBelow { .. } | AlertCondition::PriceAbove { .. } => None,
            AlertCondition::CheapestShare { percent } => {
                memo.summaries[Kind::Cheapest.shared()].get_mut(usize::from(percent))
            }
            AlertCondition::BelowDailyAverage { percent } => {
                memo.summaries[Kind::UnderMean.shared()].get_mut(usize::from(percent))
            }
            AlertCondition::NegativeAhead { hours } => {
                memo.summaries[Kind::Negative.shared()].get_mut(usize::from(hours))
            }
            AlertCondition::TomorrowPublished => Some(&mut memo.day_summary),
        };
        match shared {
            Some(text) => text
                .get_or_insert_with(|| self.write_summary(hit, outlook, &mut memo.tails))
                .clone(),
            None => self.write_summary(hit, outlook, &mut memo.tails),
        }
    }

    /// [`summary`](Self::summary)'s text, with the end naming the point of each run hit
    /// written once in `tails`.
    fn write_summary(
        &self,
        hit: Hit,
        outlook: &Outlook<'_>,
        tails: &mut [Option<String>],
    ) -> String {
        let region = self.region.name();
        if let Mark::Day(date) = hit.mark {
            return format!("{region}: prices for {date} are published");
        }
        let tail = tails[hit.index].get_or_insert_with(|| {
            let point = outlook.points[hit.index];
            let when = point.start.to_zoned(outlook.region.time_zone());
            format!(
                " — {} {}/{} from {}",
                point.price,
                point.currency,
                point.unit,
                when.strftime("%Y-%m-%d %H:%M %Z"),
            )
        });
        let mut summary = String::with_capacity(region.len() + 48 + tail.len());
        summary.push_str(region);
        summary.push_str(": ");
        // Writing to a String cannot fail.
        let _ = self.condition.write_description(&mut summary);
        summary.push_str(tail);
        summary
    }
}

/// What an occurrence is keyed by: the first interval of a run, or a local date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Run(Timestamp),
    Day(Date),
}

/// A condition met: its occurrence, the index of the point that triggered it and of the point
/// its key names (the run's first; the triggering one for a day).
#[derive(Debug, Clone, Copy)]
struct Hit {
    mark: Mark,
    index: usize,
    start: usize,
}

/// Prices and thresholds are compared as integers counting units of 10^-`FIXED_SCALE`, each
/// converted once by [`fixed`]: exactly ordered, and much cheaper to compare than `Decimal`s.
///
/// Exactness: a price with at most `FIXED_SCALE` decimal places converts exactly, and a
/// threshold of any precision is rounded in the direction that keeps its comparison with such
/// prices exact (`price < t` ⇔ `price < ⌈t⌉`, `price ≤ t` ⇔ `price ≤ ⌊t⌋`, `price > t` ⇔
/// `price > ⌊t⌋`). A price with more decimal places is rounded to the nearest unit (half to
/// even), so it may compare as equal to a value less than 10^-12 away. Magnitudes beyond
/// `i128::MAX` units (about 1.7 × 10^26) saturate and compare as equal to one another.
const FIXED_SCALE: u32 = 12;

/// Powers of ten up to the largest `Decimal` scale.
const POW10: [i128; 29] = {
    let mut pow = [1i128; 29];
    let mut k = 1;
    while k < pow.len() {
        pow[k] = pow[k - 1] * 10;
        k += 1;
    }
    pow
};

/// How [`fixed`] rounds what lies beyond `FIXED_SCALE` decimal places.
#[derive(Debug, Clone, Copy)]
enum Round {
    Down,
    Up,
    /// To the nearest, half to even.
    Nearest,
}

/// `value` in units of 10^-`FIXED_SCALE`, rounded as `round` says; see [`FIXED_SCALE`].
fn fixed(value: Decimal, round: Round) -> i128 {
    let mantissa = value.mantissa();
    let scale = value.scale();
    if scale <= FIXED_SCALE {
        return mantissa.saturating_mul(POW10[(FIXED_SCALE - scale) as usize]);
    }
    let divisor = POW10[(scale - FIXED_SCALE) as usize];
    let (floor, rest) = (mantissa.div_euclid(divisor), mantissa.rem_euclid(divisor));
    let up = match round {
        Round::Down => false,
        Round::Up => rest != 0,
        Round::Nearest => 2 * rest > divisor || (2 * rest == divisor && floor % 2 != 0),
    };
    floor + i128::from(up)
}

/// What evaluation reads of a rule, worked out once and kept apart from the rule (in the same
/// position of a parallel list), so a pass over a region's rules reads 48 bytes a rule (on
/// 64-bit targets).
#[derive(Debug, Clone, Copy)]
struct Hot {
    /// `price_below`: the threshold in [`fixed`] units rounded up; `price_above`: rounded down.
    threshold: i128,
    /// The last occurrence, parsed (so evaluation compares instants, not strings).
    seen: Option<Mark>,
    kind: Kind,
    /// The percent of `cheapest_share` and `below_daily_average`, the hours of `negative_ahead`.
    param: u16,
    enabled: bool,
}

/// The kind of a rule's condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Below,
    Above,
    Cheapest,
    UnderMean,
    Negative,
    Tomorrow,
}

impl Kind {
    /// For the kinds whose hit depends on their parameter only (`Cheapest`, `UnderMean`,
    /// `Negative`), their position in [`Memo`]'s tables.
    fn shared(self) -> usize {
        match self {
            Kind::Cheapest => 0,
            Kind::UnderMean => 1,
            _ => 2,
        }
    }
}

impl Hot {
    fn new(rule: &AlertRule) -> Self {
        let (kind, param, threshold) = match rule.condition {
            AlertCondition::PriceBelow { threshold } => {
                (Kind::Below, 0, fixed(threshold, Round::Up))
            }
            AlertCondition::PriceAbove { threshold } => {
                (Kind::Above, 0, fixed(threshold, Round::Down))
            }
            AlertCondition::CheapestShare { percent } => (Kind::Cheapest, u16::from(percent), 0),
            AlertCondition::BelowDailyAverage { percent } => {
                (Kind::UnderMean, u16::from(percent), 0)
            }
            AlertCondition::NegativeAhead { hours } => (Kind::Negative, hours, 0),
            AlertCondition::TomorrowPublished => (Kind::Tomorrow, 0, 0),
        };
        Hot {
            threshold,
            seen: rule.seen(),
            kind,
            param,
            enabled: rule.enabled,
        }
    }
}

/// The price test every interval of a run must pass, in [`fixed`] units: what each price
/// condition reduces to once the shared numbers (the cheap cut-off, today's mean) are known.
#[derive(Debug, Clone, Copy)]
enum Bound {
    Below(i128),
    AtMost(i128),
    Above(i128),
}

impl Bound {
    /// Whether low prices pass: then a stretch's best price is its minimum, its worst its
    /// maximum.
    fn wants_low(self) -> bool {
        !matches!(self, Bound::Above(_))
    }

    /// How many leading `values` fail the bound, for values ordered so that once one passes
    /// all later ones do.
    fn failing(self, values: &[i128]) -> usize {
        match self {
            Bound::Below(t) => leading(values, |v| v >= t),
            Bound::AtMost(t) => leading(values, |v| v > t),
            Bound::Above(t) => leading(values, |v| v <= t),
        }
    }
}

/// How many leading `values` are `fails`, for values where all that fail come first: a
/// binary search whose steps do not branch on the (unpredictable) comparisons.
#[inline(always)]
fn leading(values: &[i128], fails: impl Fn(i128) -> bool) -> usize {
    if values.is_empty() {
        return 0;
    }
    let (mut base, mut size) = (0, values.len());
    while size > 1 {
        let half = size / 2;
        let mid = base + half;
        base = std::hint::select_unpredictable(fails(values[mid]), mid, base);
        size -= half;
    }
    base + usize::from(fails(values[base]))
}

/// What every rule of a region shares about one set of prices at one instant, worked out once
/// per evaluation. With extremes over growing stretches, "the first interval passing a bound" is
/// a binary search: the first prefix whose best price passes ends at that interval.
struct Outlook<'a> {
    region: Region,
    /// The region's points, one per start, sorted.
    points: Vec<&'a PricePoint>,
    now: Timestamp,
    /// `now` on the region's wall clock, for quiet hours.
    local_now: Time,
    /// First point not ended at `now`.
    current: usize,
    /// First point starting 24 h or more after `now`.
    day_end: usize,
    /// First point of the gap-free stretch ending at `current`: how far back a run can reach.
    stretch_start: usize,
    /// In [`fixed`] units: `lowest[k]`, `highest[k]`: extremes of `points[current..=current + k]`.
    lowest: Vec<i128>,
    highest: Vec<i128>,
    /// `back_lowest[k]`, `back_highest[k]`: extremes of `points[stretch_start + k..current]`.
    back_lowest: Vec<i128>,
    back_highest: Vec<i128>,
    /// Prices of `points[current..day_end]`, ascending.
    day_sorted: Vec<i128>,
    /// Today's mean, when today has a known price.
    today_mean: Option<Decimal>,
    /// The first run of negative prices from `current`, however far ahead.
    negative: Option<Hit>,
    /// Local tomorrow and its first point, when one is known.
    tomorrow: Option<(Date, usize)>,
}

impl<'a> Outlook<'a> {
    fn new(region: Region, points: &'a [PricePoint], now: Timestamp) -> Self {
        let points = known_points(region, points);
        let local = now.to_zoned(region.time_zone());
        let current = points.partition_point(|p| p.end() <= now);
        let horizon = now.checked_add(DAY_AHEAD).unwrap_or(Timestamp::MAX);
        let day_end = points.partition_point(|p| p.start < horizon).max(current);
        let stretch_start = stretch_start(&points, current);
        let prices: Vec<i128> = points
            .iter()
            .map(|p| fixed(p.price, Round::Nearest))
            .collect();
        let mut day_sorted = prices[current..day_end].to_vec();
        day_sorted.sort_unstable();
        let today = local.date();
        let today_mean = mean(starting_on(region, &points, today).map(|i| points[i].price));
        let tomorrow = today.tomorrow().ok().and_then(|date| {
            let range = starting_on(region, &points, date);
            (!range.is_empty()).then_some((date, range.start))
        });
        let (ahead, back) = (&prices[current..], &prices[stretch_start..current]);
        let mut outlook = Outlook {
            region,
            lowest: running(ahead.iter().copied(), i128::min),
            highest: running(ahead.iter().copied(), i128::max),
            back_lowest: running_back(back, i128::min),
            back_highest: running_back(back, i128::max),
            points,
            now,
            local_now: local.time(),
            current,
            day_end,
            stretch_start,
            day_sorted,
            today_mean,
            negative: None,
            tomorrow,
        };
        outlook.negative = outlook.run(Bound::Below(0), outlook.points.len());
        outlook
    }

    /// The occurrence of `rule`'s condition, if it has one (those shared by every
    /// rule with the same parameter are worked out once, in `memo`).
    #[inline(always)]
    fn hit(&self, rule: &Hot, memo: &mut Memo) -> Option<Hit> {
        match rule.kind {
            Kind::Below => self.run(Bound::Below(rule.threshold), self.day_end),
            Kind::Above => self.run(Bound::Above(rule.threshold), self.day_end),
            Kind::Tomorrow => self.tomorrow.map(|(date, index)| Hit {
                mark: Mark::Day(date),
                index,
                start: index,
            }),
            Kind::Cheapest | Kind::UnderMean | Kind::Negative => {
                match memo.hits[rule.kind.shared()].get(usize::from(rule.param)) {
                    Some(Some(hit)) => *hit,
                    _ => self.shared_hit(rule.kind, rule.param, memo),
                }
            }
        }
    }

    /// The hit of a condition that depends on its parameter only (`cheapest_share`,
    /// `below_daily_average`, `negative_ahead`), remembered in `memo` for the next rule.
    #[inline(never)]
    fn shared_hit(&self, kind: Kind, param: u16, memo: &mut Memo) -> Option<Hit> {
        let hit = match kind {
            Kind::Cheapest => u8::try_from(param)
                .ok()
                .and_then(|percent| self.cheap_cutoff(percent))
                .and_then(|cutoff| self.run(Bound::AtMost(cutoff), self.day_end)),
            Kind::UnderMean => {
                self.today_mean
                    .zip(u8::try_from(param).ok())
                    .and_then(|(mean, percent)| {
                        let cutoff = fixed(under_mean(mean, percent), Round::Down);
                        self.run(Bound::AtMost(cutoff), self.day_end)
                    })
            }
            _ => {
                let horizon = self
                    .now
                    .checked_add(SignedDuration::from_hours(i64::from(param)))
                    .unwrap_or(Timestamp::MAX);
                self.negative
                    .filter(|hit| self.points[hit.index].start < horizon)
            }
        };
        if let Some(slot) = memo.hits[kind.shared()].get_mut(usize::from(param)) {
            *slot = Some(hit);
        }
        hit
    }

    /// The first run passing `bound` whose first not-ended interval lies before `limit`: that
    /// interval, and the run's true start (walking back over ended intervals when the run is
    /// already under way, so its key does not move as time passes).
    fn run(&self, bound: Bound, limit: usize) -> Option<Hit> {
        let (ahead, back) = if bound.wants_low() {
            (&self.lowest, &self.back_highest)
        } else {
            (&self.highest, &self.back_lowest)
        };
        let index = self.current + bound.failing(&ahead[..limit - self.current]);
        if index >= limit {
            return None;
        }
        // Before a later first interval lies an upcoming one that fails: the run starts there.
        let start = if index == self.current {
            self.stretch_start + bound.failing(back)
        } else {
            index
        };
        Some(Hit {
            mark: Mark::Run(self.points[start].start),
            index,
            start,
        })
    }

    /// The price of the last interval inside the cheapest `percent` % of the next 24 h (at
    /// least one interval; `percent` is clamped to 1–100).
    fn cheap_cutoff(&self, percent: u8) -> Option<i128> {
        let known = self.day_sorted.len();
        let share = usize::from(percent.clamp(1, 100));
        let count = (known * share).div_ceil(100).clamp(1, known.max(1));
        self.day_sorted.get(count - 1).copied()
    }
}

/// What one evaluation works out on demand and shares between rules: the hits of the
/// conditions that depend on their parameter only, and the text of keys and summaries.
struct Memo {
    /// By [`Kind::shared`], then parameter (below 256): the hit, and the summary.
    hits: [Vec<Option<Option<Hit>>>; 3],
    summaries: [Vec<Option<String>>; 3],
    /// By point: its start as keys print it, and a summary's end naming it.
    stamps: Vec<Option<String>>,
    tails: Vec<Option<String>>,
    /// Tomorrow's date as keys print it, and its summary.
    day: Option<String>,
    day_summary: Option<String>,
}

impl Memo {
    fn new(outlook: &Outlook<'_>) -> Self {
        let points = outlook.points.len();
        Memo {
            hits: std::array::from_fn(|_| vec![None; 256]),
            summaries: std::array::from_fn(|_| vec![None; 256]),
            stamps: vec![None; points],
            tails: vec![None; points],
            day: None,
            day_summary: None,
        }
    }

    /// The occurrence key of `hit` for a condition of `kind`: `{kind}@{run start}` or
    /// `{kind}@{date}`.
    fn key(&mut self, kind: &str, hit: Hit) -> String {
        let stamp = match hit.mark {
            Mark::Run(start) => self.stamps[hit.start].get_or_insert_with(|| start.to_string()),
            Mark::Day(date) => self.day.get_or_insert_with(|| date.to_string()),
        };
        let mut key = String::with_capacity(kind.len() + 1 + stamp.len());
        key.push_str(kind);
        key.push('@');
        key.push_str(stamp);
        key
    }
}

/// The points of `region`, one per interval start (the first given wins: callers list them in
/// their source preference), sorted by start.
fn known_points(region: Region, points: &[PricePoint]) -> Vec<&PricePoint> {
    let mut known: Vec<&PricePoint> = points.iter().filter(|p| p.region == region).collect();
    if !known.is_sorted_by_key(|p| p.start) {
        // Stable: the first given still comes first among equal starts.
        known.sort_by_key(|p| p.start);
    }
    known.dedup_by_key(|p| p.start);
    known
}

/// First index of the gap-free stretch of `points` that ends at `current`.
fn stretch_start(points: &[&PricePoint], current: usize) -> usize {
    let mut start = current.min(points.len());
    while start > 0 && start < points.len() && points[start - 1].end() == points[start].start {
        start -= 1;
    }
    start
}

/// Indices of the points starting within local `date` of `region`.
fn starting_on(region: Region, points: &[&PricePoint], date: Date) -> std::ops::Range<usize> {
    let (from, to) = day_bounds(region, date);
    points.partition_point(|p| p.start < from)..points.partition_point(|p| p.start < to)
}

/// `out[k]` = `pick` over the first `k + 1` values.
fn running(values: impl Iterator<Item = i128>, pick: fn(i128, i128) -> i128) -> Vec<i128> {
    let mut out: Vec<i128> = Vec::with_capacity(values.size_hint().0);
    for v in values {
        out.push(out.last().map_or(v, |last| pick(*last, v)));
    }
    out
}

/// `out[k]` = `pick` over `values[k..]`.
fn running_back(values: &[i128], pick: fn(i128, i128) -> i128) -> Vec<i128> {
    let mut out = running(values.iter().rev().copied(), pick);
    out.reverse();
    out
}

fn mean(values: impl Iterator<Item = Decimal>) -> Option<Decimal> {
    let (sum, count) = values.fold((Decimal::ZERO, 0u32), |(s, n), v| (s + v, n + 1));
    (count > 0).then(|| sum / Decimal::from(count))
}

/// `percent` % under `mean`, measured on its magnitude so a negative mean is lowered too
/// (for a positive mean this is `mean × (1 − percent/100)`).
fn under_mean(mean: Decimal, percent: u8) -> Decimal {
    mean - mean.abs() * Decimal::from(percent) / Decimal::ONE_HUNDRED
}

/// A region's rules, with what evaluation reads of each at the same position in `hot`.
#[derive(Debug, Clone, Default)]
struct Rules {
    hot: Vec<Hot>,
    rules: Vec<AlertRule>,
}

/// Every alert rule, grouped by region, for evaluating a region's rules against a new batch of
/// its prices in one pass.
#[derive(Debug, Clone, Default)]
pub struct AlertIndex {
    by_region: [Rules; Region::ALL.len()],
    /// Rule id → its region and position in that region's list.
    slots: HashMap<String, (Region, usize)>,
}

impl AlertIndex {
    /// Indexes `rules`; of two with the same id the later wins.
    pub fn new(rules: impl IntoIterator<Item = AlertRule>) -> Self {
        let mut index = AlertIndex::default();
        for rule in rules {
            index.upsert(rule);
        }
        index
    }

    /// Adds a rule or replaces the one with its id (which may have been in another region),
    /// returning the replaced one.
    pub fn upsert(&mut self, rule: AlertRule) -> Option<AlertRule> {
        if let Some(&(region, pos)) = self.slots.get(&rule.id)
            && region == rule.region
        {
            let list = &mut self.by_region[region.index()];
            list.hot[pos] = Hot::new(&rule);
            return Some(std::mem::replace(&mut list.rules[pos], rule));
        }
        let old = self.remove(&rule.id);
        let list = &mut self.by_region[rule.region.index()];
        self.slots
            .insert(rule.id.clone(), (rule.region, list.rules.len()));
        list.hot.push(Hot::new(&rule));
        list.rules.push(rule);
        old
    }

    /// Takes the rule with this id out.
    pub fn remove(&mut self, id: &str) -> Option<AlertRule> {
        let (region, pos) = self.slots.remove(id)?;
        let list = &mut self.by_region[region.index()];
        list.hot.swap_remove(pos);
        let rule = list.rules.swap_remove(pos);
        if let Some(moved) = list.rules.get(pos) {
            self.slots.insert(moved.id.clone(), (region, pos));
        }
        Some(rule)
    }

    /// The rule with this id, with its current firing state.
    pub fn get(&self, id: &str) -> Option<&AlertRule> {
        let &(region, pos) = self.slots.get(id)?;
        Some(&self.by_region[region.index()].rules[pos])
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Number of rules of `region`.
    pub fn count_of(&self, region: Region) -> usize {
        self.by_region[region.index()].rules.len()
    }

    /// The rules of `region`, in no particular order.
    pub fn rules_of(&self, region: Region) -> impl Iterator<Item = &AlertRule> {
        self.by_region[region.index()].rules.iter()
    }

    /// Evaluates every rule of `region` against its known `points` (sorted by start; past
    /// points let a run under way keep its start; points of other regions are ignored) at `now`,
    /// recording each firing in its rule.
    pub fn evaluate(
        &mut self,
        region: Region,
        points: &[PricePoint],
        now: Timestamp,
    ) -> Vec<Firing> {
        let list = &mut self.by_region[region.index()];
        if list.rules.is_empty() {
            return Vec::new();
        }
        let outlook = Outlook::new(region, points, now);
        let mut memo = Memo::new(&outlook);
        // First the rules with a new occurrence, from their hot parts alone; then their firings.
        let mut due = Vec::new();
        for (pos, hot) in list.hot.iter().enumerate() {
            if !hot.enabled {
                continue;
            }
            if let Some(hit) = outlook.hit(hot, &mut memo)
                && hot.seen != Some(hit.mark)
            {
                due.push((pos, hit));
            }
        }
        let mut firings = Vec::with_capacity(due.len());
        for (pos, hit) in due {
            if let Some(firing) = list.rules[pos].fire(hit, &outlook, &mut memo) {
                list.hot[pos].seen = Some(hit.mark);
                firings.push(firing);
            }
        }
        firings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::{interval_starts, local_date};
    use crate::domain::price::tests::point;
    use jiff::civil::{date, time};
    use rust_decimal::dec;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn mins(m: i64) -> SignedDuration {
        SignedDuration::from_mins(m)
    }

    /// Consecutive points of `region` of `minutes` each from `start`.
    fn series(region: Region, start: &str, minutes: u32, prices: &[Decimal]) -> Vec<PricePoint> {
        let t0 = ts(start);
        prices
            .iter()
            .enumerate()
            .map(|(i, p)| {
                point(
                    region,
                    t0 + mins(i64::from(minutes) * i as i64),
                    minutes,
                    *p,
                )
            })
            .collect()
    }

    fn rule(id: &str, region: Region, condition: AlertCondition) -> AlertRule {
        AlertRule {
            id: id.to_string(),
            user_id: format!("user-{id}"),
            region,
            condition,
            quiet_hours: None,
            cooldown: SignedDuration::ZERO,
            enabled: true,
            last_fired_at: None,
            last_occurrence: None,
        }
    }

    fn below(threshold: Decimal) -> AlertCondition {
        AlertCondition::PriceBelow { threshold }
    }

    /// A UK evening: 16:00 0.25, 16:30 0.18 (current at 16:40), then 0.25 until 18:00.
    fn uk_evening(current: Decimal) -> Vec<PricePoint> {
        series(
            Region::Uk,
            "2026-11-30T16:00:00Z",
            30,
            &[dec!(0.25), current, dec!(0.25), dec!(0.25)],
        )
    }

    #[test]
    fn price_below_fires_once_for_a_current_price() {
        let now = ts("2026-11-30T16:40:00Z");
        let points = uk_evening(dec!(0.18));
        let mut index = AlertIndex::new([rule("r1", Region::Uk, below(dec!(0.20)))]);
        let firings = index.evaluate(Region::Uk, &points, now);
        assert_eq!(firings.len(), 1);
        let f = &firings[0];
        assert_eq!(f.price, Some(dec!(0.18)));
        assert_eq!(f.at, ts("2026-11-30T16:30:00Z"));
        assert_eq!(f.occurrence, "price_below@2026-11-30T16:30:00Z");
        assert_eq!((f.rule_id.as_str(), f.user_id.as_str()), ("r1", "user-r1"));
        assert!(f.summary.contains("0.18 GBP/MWh"), "{}", f.summary);
        let stored = index.get("r1").unwrap();
        assert_eq!(stored.last_fired_at, Some(now));
        assert_eq!(
            stored.last_occurrence.as_deref(),
            Some(f.occurrence.as_str())
        );

        assert!(index.evaluate(Region::Uk, &points, now).is_empty());
        let later = now + mins(10);
        assert!(index.evaluate(Region::Uk, &points, later).is_empty());
    }

    #[test]
    fn price_above_fires_and_a_price_not_below_does_not() {
        let now = ts("2026-11-30T16:40:00Z");
        let mut above = rule(
            "a",
            Region::Uk,
            AlertCondition::PriceAbove {
                threshold: dec!(0.30),
            },
        );
        let firing = above.evaluate(&uk_evening(dec!(0.35)), now).unwrap();
        assert_eq!(firing.price, Some(dec!(0.35)));
        assert_eq!(firing.occurrence, "price_above@2026-11-30T16:30:00Z");

        let mut low = rule("b", Region::Uk, below(dec!(0.20)));
        assert_eq!(low.evaluate(&uk_evening(dec!(0.25)), now), None);
        assert_eq!(low.last_occurrence, None);
        // Equal to the threshold is not below it.
        assert_eq!(low.evaluate(&uk_evening(dec!(0.20)), now), None);
    }

    #[test]
    fn a_rule_ignores_other_regions_prices() {
        let now = ts("2026-11-30T16:40:00Z");
        let uk = uk_evening(dec!(0.01));
        let mut index = AlertIndex::new([rule("ct", Region::UsCt, below(dec!(0.20)))]);
        assert!(index.evaluate(Region::Uk, &uk, now).is_empty());
        assert!(index.evaluate(Region::UsCt, &uk, now).is_empty());
        let mut single = rule("ct", Region::UsCt, below(dec!(0.20)));
        assert_eq!(single.evaluate(&uk, now), None);
    }

    #[test]
    fn a_run_under_way_keeps_its_start_as_time_passes() {
        // Below from 16:00 to 17:30 (three half-hours), above after.
        let points = series(
            Region::Uk,
            "2026-11-30T15:30:00Z",
            30,
            &[dec!(0.3), dec!(0.1), dec!(0.1), dec!(0.1), dec!(0.3)],
        );
        let key = "price_below@2026-11-30T16:00:00Z";
        for now in [
            "2026-11-30T16:10:00Z",
            "2026-11-30T16:45:00Z",
            "2026-11-30T17:20:00Z",
        ] {
            let mut r = rule("r", Region::Uk, below(dec!(0.2)));
            let f = r.evaluate(&points, ts(now)).unwrap();
            assert_eq!(f.occurrence, key, "at {now}");
        }
        // A gap breaks the run: without the 16:00 point, the run starts at 16:30.
        let mut gapped = points.clone();
        gapped.remove(1);
        let mut r = rule("r", Region::Uk, below(dec!(0.2)));
        let f = r.evaluate(&gapped, ts("2026-11-30T16:45:00Z")).unwrap();
        assert_eq!(f.occurrence, "price_below@2026-11-30T16:30:00Z");
    }

    #[test]
    fn a_new_run_fires_again_once_the_cooldown_has_passed() {
        // Below 16:00–17:00, above 17:00–19:00, below again 19:00–20:00.
        let (lo, hi) = (dec!(0.1), dec!(0.3));
        let prices = [lo, lo, hi, hi, hi, hi, lo, lo];
        let points = series(Region::Uk, "2026-11-30T16:00:00Z", 30, &prices);
        let mut r = rule("r", Region::Uk, below(dec!(0.2)));
        r.cooldown = SignedDuration::from_hours(3);
        let mut index = AlertIndex::new([r]);

        let first = index.evaluate(Region::Uk, &points, ts("2026-11-30T16:10:00Z"));
        assert_eq!(first[0].occurrence, "price_below@2026-11-30T16:00:00Z");
        // At 17:30 the first run has ended; the next is at 19:00, but the cool-down runs to 19:10.
        assert!(
            index
                .evaluate(Region::Uk, &points, ts("2026-11-30T17:30:00Z"))
                .is_empty()
        );
        let stored = index.get("r").unwrap();
        assert_eq!(
            stored.last_occurrence.as_deref(),
            Some("price_below@2026-11-30T16:00:00Z"),
            "a suppressed occurrence is not recorded"
        );
        let again = index.evaluate(Region::Uk, &points, ts("2026-11-30T19:10:00Z"));
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].occurrence, "price_below@2026-11-30T19:00:00Z");
        assert_eq!(again[0].at, ts("2026-11-30T19:00:00Z"));
        assert!(
            index
                .evaluate(Region::Uk, &points, ts("2026-11-30T19:40:00Z"))
                .is_empty()
        );
    }

    #[test]
    fn quiet_hours_suppress_until_they_end() {
        // Tokyo is UTC+9: 23:30 local is 14:30Z, 07:30 local is 22:30Z.
        let points = series(Region::Japan, "2026-11-30T14:00:00Z", 60, &[dec!(5); 10]);
        let mut r = rule("q", Region::Japan, below(dec!(10)));
        r.quiet_hours = Some(QuietHours {
            start: time(22, 0, 0, 0),
            end: time(7, 0, 0, 0),
        });
        let mut index = AlertIndex::new([r]);
        assert!(
            index
                .evaluate(Region::Japan, &points, ts("2026-11-30T14:30:00Z"))
                .is_empty()
        );
        assert_eq!(index.get("q").unwrap().last_occurrence, None);
        let f = index.evaluate(Region::Japan, &points, ts("2026-11-30T22:30:00Z"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].occurrence, "price_below@2026-11-30T14:00:00Z");
    }

    #[test]
    fn quiet_hours_wrap_midnight_and_empty_spans_are_never_quiet() {
        let q = |a: i8, b: i8| QuietHours {
            start: time(a, 0, 0, 0),
            end: time(b, 0, 0, 0),
        };
        let night = q(22, 7);
        assert!(night.contains(time(23, 0, 0, 0)));
        assert!(night.contains(time(0, 0, 0, 0)));
        assert!(night.contains(time(6, 59, 0, 0)));
        assert!(!night.contains(time(7, 0, 0, 0)));
        assert!(!night.contains(time(12, 0, 0, 0)));
        let lunch = q(12, 14);
        assert!(lunch.contains(time(12, 0, 0, 0)));
        assert!(!lunch.contains(time(14, 0, 0, 0)));
        assert!(!q(8, 8).contains(time(8, 0, 0, 0)));
    }

    #[test]
    fn negative_ahead_looks_only_within_its_hours() {
        // Negative from +5 h (21:00Z) for two hours.
        let mut prices = vec![dec!(20); 12];
        prices[5] = dec!(-3);
        prices[6] = dec!(-1);
        let points = series(Region::Germany, "2026-06-01T16:00:00Z", 60, &prices);
        let now = ts("2026-06-01T16:00:00Z");
        let neg = |hours| {
            rule(
                "n",
                Region::Germany,
                AlertCondition::NegativeAhead { hours },
            )
        };
        assert_eq!(neg(4).evaluate(&points, now), None);
        assert_eq!(neg(5).evaluate(&points, now), None);
        let f = neg(6).evaluate(&points, now).unwrap();
        assert_eq!(f.occurrence, "negative_ahead@2026-06-01T21:00:00Z");
        assert_eq!(f.price, Some(dec!(-3)));
    }

    #[test]
    fn cheapest_share_is_relative_to_the_next_day() {
        // 8 known hours: the cheapest 25 % are the 2 cheapest (1 and 2, at 03:00 and 04:00).
        let prices = [9, 8, 7, 2, 1, 6, 5, 4].map(Decimal::from);
        let points = series(Region::Germany, "2026-06-01T00:00:00Z", 60, &prices);
        let now = ts("2026-06-01T00:30:00Z");
        let mut r = rule(
            "c",
            Region::Germany,
            AlertCondition::CheapestShare { percent: 25 },
        );
        let f = r.evaluate(&points, now).unwrap();
        assert_eq!(f.occurrence, "cheapest_share@2026-06-01T03:00:00Z");
        assert_eq!(f.price, Some(dec!(2)));
        // 10 % of 8 intervals still means the single cheapest.
        let mut r = rule(
            "c",
            Region::Germany,
            AlertCondition::CheapestShare { percent: 10 },
        );
        assert_eq!(r.evaluate(&points, now).unwrap().price, Some(dec!(1)));
        // At 04:30 the window has shrunk to 04:00–08:00; its cheapest 10 % is still the 04:00
        // interval, the same occurrence.
        let later = ts("2026-06-01T04:30:00Z");
        let f = r.evaluate(&points, later);
        assert_eq!(f, None, "same occurrence, already fired");
    }

    #[test]
    fn below_daily_average_uses_the_local_day_mean() {
        // Berlin is UTC+2 in June: local 2026-06-02 is 2026-06-01T22:00Z to 2026-06-02T22:00Z.
        // Yesterday's expensive evening must not count; today's mean is 10.
        let mut prices = vec![dec!(100); 2];
        prices.extend([dec!(12), dec!(12), dec!(8), dec!(8), dec!(9), dec!(11)]);
        let points = series(Region::Germany, "2026-06-01T20:00:00Z", 60, &prices);
        let now = ts("2026-06-01T22:30:00Z");
        let avg = |percent| {
            rule(
                "d",
                Region::Germany,
                AlertCondition::BelowDailyAverage { percent },
            )
        };
        let f = avg(15).evaluate(&points, now).unwrap();
        assert_eq!(f.occurrence, "below_daily_average@2026-06-02T00:00:00Z");
        assert_eq!(f.price, Some(dec!(8)));
        assert_eq!(avg(21).evaluate(&points, now), None);
        let f = avg(0).evaluate(&points, now).unwrap();
        assert_eq!(f.price, Some(dec!(8)));
        assert_eq!(under_mean(dec!(-10), 10), dec!(-11));
    }

    #[test]
    fn tomorrow_published_keys_by_local_date() {
        // Today in London is 2026-11-30; tomorrow starts at 2026-12-01T00:00Z.
        let now = ts("2026-11-30T16:10:00Z");
        let today = series(Region::Uk, "2026-11-30T22:00:00Z", 30, &[dec!(1); 4]);
        let mut r = rule("t", Region::Uk, AlertCondition::TomorrowPublished);
        assert_eq!(r.evaluate(&today, now), None);
        let with_tomorrow = series(Region::Uk, "2026-11-30T22:00:00Z", 30, &[dec!(1); 8]);
        let f = r.evaluate(&with_tomorrow, now).unwrap();
        assert_eq!(f.occurrence, "tomorrow_published@2026-12-01");
        assert_eq!(f.at, ts("2026-12-01T00:00:00Z"));
        assert_eq!(f.price, None);
        assert_eq!(r.evaluate(&with_tomorrow, now + mins(60)), None);
    }

    #[test]
    fn duplicate_starts_keep_the_first_point() {
        let now = ts("2026-11-30T16:40:00Z");
        let mut points = uk_evening(dec!(0.25));
        let mut other = points[1].clone();
        other.price = dec!(0.10);
        other.source = crate::domain::price::Source::Octopus;
        points.insert(2, other.clone());
        let mut r = rule("r", Region::Uk, below(dec!(0.20)));
        assert_eq!(r.evaluate(&points, now), None);
        points.swap(1, 2);
        assert_eq!(r.evaluate(&points, now).unwrap().price, Some(dec!(0.10)));
    }

    #[test]
    fn disabled_foreign_and_unreadable_states() {
        let now = ts("2026-11-30T16:40:00Z");
        let points = uk_evening(dec!(0.18));
        let mut off = rule("r", Region::Uk, below(dec!(0.20)));
        off.enabled = false;
        assert_eq!(off.evaluate(&points, now), None);
        for last in [
            "price_above@2026-11-30T16:30:00Z",
            "garbage",
            "price_below@nope",
        ] {
            let mut r = rule("r", Region::Uk, below(dec!(0.20)));
            r.last_occurrence = Some(last.to_string());
            assert!(r.evaluate(&points, now).is_some(), "{last}");
        }
        // A key written with another offset still names the same instant.
        let mut r = rule("r", Region::Uk, below(dec!(0.20)));
        r.last_occurrence = Some("price_below@2026-11-30T17:30:00+01:00".to_string());
        assert_eq!(r.evaluate(&points, now), None);
    }

    #[test]
    fn cooldown_overflow_never_elapses() {
        let now = ts("2026-11-30T16:40:00Z");
        let mut r = rule("r", Region::Uk, below(dec!(0.20)));
        r.last_fired_at = Some(now);
        r.cooldown = SignedDuration::MAX;
        assert_eq!(r.evaluate(&uk_evening(dec!(0.18)), now), None);
    }

    #[test]
    fn conditions_and_rules_are_checked() {
        use AlertCondition::*;
        assert!(CheapestShare { percent: 0 }.check().is_err());
        assert!(CheapestShare { percent: 101 }.check().is_err());
        assert!(CheapestShare { percent: 100 }.check().is_ok());
        assert!(BelowDailyAverage { percent: 0 }.check().is_ok());
        assert!(BelowDailyAverage { percent: 100 }.check().is_err());
        assert!(NegativeAhead { hours: 0 }.check().is_err());
        assert!(NegativeAhead { hours: 49 }.check().is_err());
        assert!(NegativeAhead { hours: 48 }.check().is_ok());
        assert!(TomorrowPublished.check().is_ok());
        let msg = NegativeAhead { hours: 49 }.check().unwrap_err();
        assert!(msg.contains("between 1 and 48"), "{msg}");
        let mut r = rule("r", Region::Uk, below(dec!(0.2)));
        assert_eq!(r.check(), Ok(()));
        r.cooldown = -SignedDuration::from_secs(1);
        assert!(r.check().is_err());
        assert_eq!(below(dec!(0.2)).describe(), "price below 0.2");
    }

    #[test]
    fn json_shapes() {
        let c: AlertCondition =
            serde_json::from_str(r#"{"kind":"price_below","threshold":"0.20"}"#).unwrap();
        assert_eq!(c, below(dec!(0.20)));
        let c: AlertCondition = serde_json::from_str(r#"{"kind":"tomorrow_published"}"#).unwrap();
        assert_eq!(c, AlertCondition::TomorrowPublished);
        assert!(
            serde_json::from_str::<AlertCondition>(r#"{"kind":"price_below","threshold":1,"x":1}"#)
                .is_err()
        );
        let json = serde_json::to_value(AlertCondition::NegativeAhead { hours: 6 }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "negative_ahead", "hours": 6})
        );

        let q: QuietHours = serde_json::from_str(r#"{"start":"22:00","end":"07:30"}"#).unwrap();
        assert_eq!(q.end, time(7, 30, 0, 0));

        let mut r = rule("r", Region::UsCt, below(dec!(0.2)));
        r.quiet_hours = Some(q);
        r.cooldown = SignedDuration::from_hours(2);
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains(r#""region":"us_ct""#), "{text}");
        assert_eq!(serde_json::from_str::<AlertRule>(&text).unwrap(), r);
    }

    #[test]
    fn index_upsert_moves_and_remove_keeps_slots_right() {
        let mut index = AlertIndex::new([
            rule("a", Region::Uk, below(dec!(1))),
            rule("b", Region::Uk, below(dec!(2))),
            rule("c", Region::Uk, below(dec!(3))),
        ]);
        assert_eq!((index.len(), index.count_of(Region::Uk)), (3, 3));
        let old = index
            .upsert(rule("a", Region::Japan, below(dec!(4))))
            .unwrap();
        assert_eq!(old.region, Region::Uk);
        assert_eq!(
            (index.count_of(Region::Uk), index.count_of(Region::Japan)),
            (2, 1)
        );
        assert_eq!(index.get("a").unwrap().region, Region::Japan);
        assert_eq!(index.get("c").unwrap().condition, below(dec!(3)));
        let replaced = index.upsert(rule("c", Region::Uk, below(dec!(5)))).unwrap();
        assert_eq!(replaced.condition, below(dec!(3)));
        assert_eq!(index.remove("b").unwrap().id, "b");
        assert_eq!(index.get("c").unwrap().condition, below(dec!(5)));
        assert_eq!(index.remove("b"), None);
        assert_eq!(index.len(), 2);
        let ids: Vec<_> = index.rules_of(Region::Uk).map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["c"]);
        assert!(!index.is_empty());
    }

    /// A straightforward per-rule evaluation of the same semantics, as the oracle for the index.
    fn naive(rule: &mut AlertRule, points: &[PricePoint], now: Timestamp) -> Option<Firing> {
        if !rule.enabled {
            return None;
        }
        let mut pts: Vec<&PricePoint> = Vec::new();
        for p in points.iter().filter(|p| p.region == rule.region) {
            if pts.last().is_none_or(|l| l.start != p.start) {
                pts.push(p);
            }
        }
        let today = local_date(rule.region, now);
        let day = |i: usize| local_date(rule.region, pts[i].start);
        let within = |i: usize, hours: i64| {
            pts[i].end() > now && pts[i].start < now + SignedDuration::from_hours(hours)
        };
        let kind = rule.condition.kind();
        let run = |hours: i64, test: &dyn Fn(Decimal) -> bool| {
            let i = (0..pts.len()).find(|&i| within(i, hours) && test(pts[i].price))?;
            let mut s = i;
            while s > 0 && pts[s - 1].end() == pts[s].start && test(pts[s - 1].price) {
                s -= 1;
            }
            Some((format!("{kind}@{}", pts[s].start), i))
        };
        let hit = match rule.condition {
            AlertCondition::PriceBelow { threshold } => run(24, &|p| p < threshold),
            AlertCondition::PriceAbove { threshold } => run(24, &|p| p > threshold),
            AlertCondition::CheapestShare { percent } => {
                let mut day: Vec<Decimal> = (0..pts.len())
                    .filter(|&i| within(i, 24))
                    .map(|i| pts[i].price)
                    .collect();
                day.sort();
                let k = ((day.len() * usize::from(percent)) as f64 / 100.0).ceil() as usize;
                let cutoff = *day.get(k.max(1) - 1)?;
                run(24, &|p| p <= cutoff)
            }
            AlertCondition::BelowDailyAverage { percent } => {
                let today: Vec<Decimal> = (0..pts.len())
                    .filter(|&i| day(i) == today)
                    .map(|i| pts[i].price)
                    .collect();
                if today.is_empty() {
                    return None;
                }
                let mean = today.iter().sum::<Decimal>() / Decimal::from(today.len());
                let cutoff = mean * (Decimal::ONE - Decimal::from(percent) / dec!(100));
                run(24, &|p| p <= cutoff)
            }
            AlertCondition::NegativeAhead { hours } => run(i64::from(hours), &|p| p < dec!(0)),
            AlertCondition::TomorrowPublished => {
                let tomorrow = today.tomorrow().unwrap();
                let i = (0..pts.len()).find(|&i| day(i) == tomorrow)?;
                Some((format!("{kind}@{tomorrow}"), i))
            }
        };
        let (key, i) = hit?;
        if rule.last_occurrence.as_deref() == Some(key.as_str()) {
            return None;
        }
        if rule.last_fired_at.is_some_and(|t| now < t + rule.cooldown) {
            return None;
        }
        let local = now.to_zoned(rule.region.time_zone()).time();
        if rule.quiet_hours.is_some_and(|q| q.contains(local)) {
            return None;
        }
        rule.last_fired_at = Some(now);
        rule.last_occurrence = Some(key.clone());
        Some(Firing {
            rule_id: rule.id.clone(),
            user_id: rule.user_id.clone(),
            region: rule.region,
            occurrence: key,
            at: pts[i].start,
            price: (kind != "tomorrow_published").then_some(pts[i].price),
            summary: String::new(),
        })
    }

    #[test]
    fn a_hundred_thousand_rules_match_a_naive_evaluation() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let today = date(2026, 6, 1);
        let tomorrow = date(2026, 6, 2);
        let mut points: Vec<PricePoint> = interval_starts(Region::Germany, today)
            .chain(interval_starts(Region::Germany, tomorrow))
            .map(|t| {
                point(
                    Region::Germany,
                    t,
                    15,
                    Decimal::new(next(2000) as i64 - 300, 1),
                )
            })
            .collect();
        assert_eq!(points.len(), 192);
        let tomorrow_points = points.split_off(96);
        // Today's points are positive on average, so the oracle's literal formula applies.
        assert!(points.iter().map(|p| p.price).sum::<Decimal>() > Decimal::ZERO);

        let now_at = |h: i8, m: i8| {
            today
                .at(h, m, 0, 0)
                .to_zoned(Region::Germany.time_zone())
                .unwrap()
                .timestamp()
        };
        let mut rules = Vec::with_capacity(100_000);
        for i in 0..100_000u64 {
            let region = Region::ALL[(i % 14) as usize];
            let condition = match next(6) {
                0 => below(Decimal::new(next(2000) as i64 - 300, 1)),
                1 => AlertCondition::PriceAbove {
                    threshold: Decimal::new(next(2000) as i64 - 300, 1),
                },
                2 => AlertCondition::CheapestShare {
                    percent: next(100) as u8 + 1,
                },
                3 => AlertCondition::BelowDailyAverage {
                    percent: next(100) as u8,
                },
                4 => AlertCondition::NegativeAhead {
                    hours: next(48) as u16 + 1,
                },
                _ => AlertCondition::TomorrowPublished,
            };
            let mut r = rule(&format!("r{i}"), region, condition);
            r.cooldown = mins(next(8) as i64 * 60);
            r.enabled = next(10) != 0;
            if next(4) == 0 {
                r.quiet_hours = Some(QuietHours {
                    start: time(next(24) as i8, 0, 0, 0),
                    end: time(next(24) as i8, 0, 0, 0),
                });
            }
            if next(3) == 0 {
                r.last_fired_at = Some(now_at(0, 0) - mins(next(600) as i64));
            }
            rules.push(r);
        }
        let mut index = AlertIndex::new(rules.clone());
        let mut oracle: Vec<AlertRule> = rules
            .into_iter()
            .filter(|r| r.region == Region::Germany)
            .collect();

        let mut with_tomorrow = points.clone();
        with_tomorrow.extend(tomorrow_points);
        let passes = [
            (now_at(10, 7), &points),
            (now_at(10, 7), &points),
            (now_at(11, 52), &points),
            (now_at(15, 37), &with_tomorrow),
            (now_at(22, 15), &with_tomorrow),
        ];
        let mut total = 0;
        for (now, batch) in passes {
            let started = std::time::Instant::now();
            let got = index.evaluate(Region::Germany, batch, now);
            let elapsed = started.elapsed();
            let want: Vec<Firing> = oracle
                .iter_mut()
                .filter_map(|r| naive(r, batch, now))
                .collect();
            let key = |f: &Firing| (f.rule_id.clone(), f.occurrence.clone(), f.at, f.price);
            let mut got_keys: Vec<_> = got.iter().map(key).collect();
            let mut want_keys: Vec<_> = want.iter().map(key).collect();
            got_keys.sort();
            want_keys.sort();
            assert_eq!(got_keys.len(), want_keys.len(), "at {now}");
            assert_eq!(got_keys, want_keys, "at {now}");
            eprintln!("{} firings at {now} in {elapsed:?}", got.len());
            total += got.len();
        }
        assert!(total > 1000, "the passes exercise firing: {total}");
        for r in &oracle {
            assert_eq!(index.get(&r.id), Some(r));
        }
    }

    #[test]
    fn summaries_name_the_condition_price_and_local_time() {
        // Rules sharing a parameter share their summary's text; `negative_ahead` over 255 h is
        // not remembered but reads the same.
        let now = ts("2026-11-30T16:40:00Z");
        let mut index = AlertIndex::new([
            rule("b", Region::Uk, below(dec!(0.20))),
            rule(
                "c1",
                Region::Uk,
                AlertCondition::CheapestShare { percent: 30 },
            ),
            rule(
                "c2",
                Region::Uk,
                AlertCondition::CheapestShare { percent: 30 },
            ),
            rule(
                "d",
                Region::Uk,
                AlertCondition::BelowDailyAverage { percent: 5 },
            ),
            rule(
                "n",
                Region::Uk,
                AlertCondition::NegativeAhead { hours: 300 },
            ),
            rule("t", Region::Uk, AlertCondition::TomorrowPublished),
        ]);
        let mut prices = vec![dec!(0.25), dec!(0.18), dec!(-0.01)];
        prices.extend([dec!(0.25); 16]);
        let points = series(Region::Uk, "2026-11-30T16:00:00Z", 30, &prices);
        let mut firings = index.evaluate(Region::Uk, &points, now);
        firings.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
        let got: Vec<_> = firings
            .iter()
            .map(|f| {
                (
                    f.rule_id.as_str(),
                    f.occurrence.as_str(),
                    f.summary.as_str(),
                )
            })
            .collect();
        let from = "0.18 GBP/MWh from 2026-11-30 16:30 GMT";
        assert_eq!(
            got,
            [
                (
                    "b",
                    "price_below@2026-11-30T16:30:00Z",
                    &*format!("United Kingdom: price below 0.20 — {from}")
                ),
                (
                    "c1",
                    "cheapest_share@2026-11-30T16:00:00Z",
                    &*format!("United Kingdom: among the cheapest 30 % of the next 24 h — {from}")
                ),
                (
                    "c2",
                    "cheapest_share@2026-11-30T16:00:00Z",
                    &*format!("United Kingdom: among the cheapest 30 % of the next 24 h — {from}")
                ),
                (
                    "d",
                    "below_daily_average@2026-11-30T16:30:00Z",
                    &*format!("United Kingdom: at least 5 % under today's average — {from}")
                ),
                (
                    "n",
                    "negative_ahead@2026-11-30T17:00:00Z",
                    "United Kingdom: a negative price within the next 300 h — -0.01 GBP/MWh \
                     from 2026-11-30 17:00 GMT"
                ),
                (
                    "t",
                    "tomorrow_published@2026-12-01",
                    "United Kingdom: prices for 2026-12-01 are published"
                ),
            ]
        );
    }

    #[test]
    fn prices_and_thresholds_compare_exactly_in_fixed_units() {
        // Up to 12 decimal places a value converts exactly.
        assert_eq!(fixed(dec!(0.2), Round::Nearest), 200_000_000_000);
        assert_eq!(
            fixed(dec!(-1.000000000001), Round::Down),
            -1_000_000_000_001
        );
        // A threshold with more is rounded in the direction its comparison needs.
        let t = dec!(0.2000000000000001);
        assert_eq!(fixed(t, Round::Up), 200_000_000_001);
        assert_eq!(fixed(t, Round::Down), 200_000_000_000);
        assert_eq!(fixed(-t, Round::Up), -200_000_000_000);
        assert_eq!(fixed(-t, Round::Down), -200_000_000_001);
        // A price with more is rounded to the nearest unit, half to even.
        assert_eq!(fixed(dec!(0.0000000000015), Round::Nearest), 2);
        assert_eq!(fixed(dec!(0.0000000000025), Round::Nearest), 2);
        assert_eq!(fixed(dec!(0.00000000000251), Round::Nearest), 3);
        assert_eq!(fixed(dec!(-0.0000000000015), Round::Nearest), -2);
        // Magnitudes beyond i128 units saturate.
        assert_eq!(fixed(Decimal::MAX, Round::Nearest), i128::MAX);
        assert_eq!(fixed(Decimal::MIN, Round::Up), i128::MIN);

        // Through evaluation: only the 16:30 price (current at 16:40) can pass.
        let now = ts("2026-11-30T16:40:00Z");
        let fires = |condition: AlertCondition, price: Decimal| {
            let other = match condition {
                AlertCondition::PriceBelow { .. } => dec!(0.25),
                _ => dec!(0.1),
            };
            let prices = [other, price, other, other];
            let points = series(Region::Uk, "2026-11-30T16:00:00Z", 30, &prices);
            rule("r", Region::Uk, condition)
                .evaluate(&points, now)
                .is_some()
        };
        let above = |threshold| AlertCondition::PriceAbove { threshold };
        let price = dec!(0.2);
        assert!(fires(below(dec!(0.2000000000000001)), price));
        assert!(!fires(below(dec!(0.2)), price));
        assert!(!fires(below(dec!(0.1999999999999999)), price));
        assert!(fires(above(dec!(0.1999999999999999)), price));
        assert!(!fires(above(dec!(0.2)), price));
        assert!(!fires(above(dec!(0.2000000000000001)), price));
        // A price with more than 12 places compares as its rounding: this one, above 0.2 by
        // 4 × 10^-13, counts as 0.2.
        assert!(!fires(above(dec!(0.2)), dec!(0.2000000000004)));
        assert!(fires(above(dec!(0.2)), dec!(0.2000000000006)));
    }
}
