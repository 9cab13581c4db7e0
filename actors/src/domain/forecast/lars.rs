//! The lasso regularisation path by least-angle regression (LARS with the lasso modification,
//! Efron, Hastie, Johnstone & Tibshirani 2004), in covariance ("Gram") form: it needs only XᵀX
//! and Xᵀy, so one Gram matrix serves every target that shares the same design (the 24 hours of
//! a day). Along the path, the penalty is chosen by an information criterion (AIC or BIC), as
//! scikit-learn's `LassoLarsIC` does.
//!
//! Conventions follow scikit-learn: the objective is ½n⁻¹‖y − Xβ‖² + α‖β‖₁, so the path's
//! α at a breakpoint is max|Xᵀr|/n.

/// Which information criterion picks the penalty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// Akaike: 2 per degree of freedom.
    Aic,
    /// Bayesian: ln(n) per degree of freedom.
    Bic,
}

/// The selected point of a path.
#[derive(Debug, Clone, PartialEq)]
pub struct LassoFit {
    /// Coefficients in the design's own scale.
    pub coef: Vec<f64>,
    /// The penalty at the chosen breakpoint.
    pub alpha: f64,
    /// Non-zero coefficients.
    pub df: usize,
    /// Breakpoints the path went through.
    pub steps: usize,
}

/// Dense symmetric matrix in row-major order.
#[derive(Debug, Clone)]
pub struct Gram {
    pub p: usize,
    pub data: Vec<f64>,
}

impl Gram {
    /// XᵀX of a row-major `n × p` design.
    pub fn of(x: &[f64], n: usize, p: usize) -> Gram {
        let mut data = vec![0.0; p * p];
        for row in x.chunks_exact(p).take(n) {
            for i in 0..p {
                let xi = row[i];
                if xi == 0.0 {
                    continue;
                }
                let out = &mut data[i * p + i..i * p + p];
                for (o, xj) in out.iter_mut().zip(&row[i..]) {
                    *o += xi * xj;
                }
            }
        }
        for i in 0..p {
            for j in 0..i {
                data[i * p + j] = data[j * p + i];
            }
        }
        Gram { p, data }
    }

    #[inline]
    fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.p + j]
    }
}

/// Xᵀy of a row-major `n × p` design.
pub fn xty(x: &[f64], n: usize, p: usize, y: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; p];
    for (row, yi) in x.chunks_exact(p).take(n).zip(y) {
        for (o, xj) in out.iter_mut().zip(row) {
            *o += xj * yi;
        }
    }
    out
}

/// Lower-triangular Cholesky factor of the active block, grown and shrunk with the active set.
struct Cholesky {
    /// Row-major k × k, lower triangle used.
    l: Vec<f64>,
    k: usize,
    cap: usize,
}

impl Cholesky {
    fn new(cap: usize) -> Self {
        Cholesky {
            l: vec![0.0; cap * cap],
            k: 0,
            cap,
        }
    }

    /// Appends a variable with Gram column `g` (over the current active set) and diagonal `d`.
    /// Returns false when the variable is (numerically) a combination of the active ones.
    fn push(&mut self, g: &[f64], d: f64) -> bool {
        let k = self.k;
        let cap = self.cap;
        let mut row = vec![0.0; k];
        for i in 0..k {
            let li = &self.l[i * cap..i * cap + i + 1];
            let s = g[i] - dot(&li[..i], &row[..i]);
            row[i] = s / li[i];
        }
        let rest = d - row.iter().map(|v| v * v).sum::<f64>();
        if rest <= 1e-10 * d.max(1e-300) {
            return false;
        }
        self.l[k * cap..k * cap + k].copy_from_slice(&row);
        self.l[k * cap + k] = rest.sqrt();
        self.k += 1;
        true
    }

    /// Removes the variable at `pos` in O(k²): drop its row, then Givens rotations on the
    /// columns bring the rows below back to lower-triangular form (instead of refactoring).
    fn remove(&mut self, pos: usize) {
        let (k, cap) = (self.k, self.cap);
        for i in pos..k - 1 {
            let (dst, src) = (i * cap, (i + 1) * cap);
            self.l.copy_within(src..src + i + 2, dst);
        }
        for j in pos..k - 1 {
            // Row j now reaches column j + 1; rotate columns j and j + 1 to clear it.
            let (a, b) = (self.l[j * cap + j], self.l[j * cap + j + 1]);
            let r = a.hypot(b);
            let (c, s) = (a / r, b / r);
            for i in j..k - 1 {
                let (x, y) = (self.l[i * cap + j], self.l[i * cap + j + 1]);
                self.l[i * cap + j] = c * x + s * y;
                self.l[i * cap + j + 1] = -s * x + c * y;
            }
            // The new diagonal is c·a + s·b = r > 0, so the factor stays a proper Cholesky one.
            self.l[j * cap + j + 1] = 0.0;
        }
        self.k -= 1;
    }

    /// Solves (L Lᵀ) w = b.
    fn solve(&self, b: &[f64]) -> Vec<f64> {
        let (k, cap) = (self.k, self.cap);
        let mut z = vec![0.0; k];
        for i in 0..k {
            let li = &self.l[i * cap..i * cap + i + 1];
            let s = b[i] - dot(&li[..i], &z[..i]);
            z[i] = s / li[i];
        }
        // Lᵀ w = z, walking L by rows (contiguous) rather than by columns.
        for i in (0..k).rev() {
            let row = &self.l[i * cap..i * cap + i + 1];
            z[i] /= row[i];
            let zi = z[i];
            for (zj, lij) in z[..i].iter_mut().zip(&row[..i]) {
                *zj -= lij * zi;
            }
        }
        z
    }
}

/// One breakpoint of the path, as the visitor of [`lasso_path`] sees it.
pub struct PathPoint<'a> {
    pub beta: &'a [f64],
    /// The penalty α at this point.
    pub alpha: f64,
    /// ‖y − Xβ‖² (needs the `y_sq` given to the path).
    pub rss: f64,
    /// Non-zero coefficients.
    pub df: usize,
}

/// Walks the lasso path on (`gram`, `xy`) from α = max|Xᵀy|/n down to `alpha_min` (the last
/// step is cut short to land exactly on it) or until `max_steps` breakpoints, calling `visit` at
/// every breakpoint. Returns the coefficients where it stopped and the number of steps. y and the
/// columns of X must be centred; `n` is the number of samples and `y_sq` is ‖y‖².
pub fn lasso_path(
    gram: &Gram,
    xy: &[f64],
    y_sq: f64,
    n: usize,
    alpha_min: f64,
    max_steps: usize,
    mut visit: impl FnMut(&PathPoint),
) -> (Vec<f64>, usize) {
    let p = gram.p;
    let floor = alpha_min.max(0.0) * n as f64; // the path stops when max|corr| reaches n·alpha_min
    let mut beta = vec![0.0; p];
    let mut corr = xy.to_vec(); // Xᵀ(y − Xβ)
    let mut gram_beta = vec![0.0; p]; // XᵀXβ, kept along the path for the residual sum of squares
    let mut active: Vec<usize> = Vec::new();
    let mut in_active = vec![false; p];
    let mut excluded = vec![false; p]; // collinear with the active set
    let max_active = p.min(n.saturating_sub(1)).max(1);
    let mut chol = Cholesky::new(max_active + 1);
    let mut dropped: Option<usize> = None;
    let mut steps = 0;
    while steps < max_steps {
        // Bring in the most correlated inactive variable (unless one was just dropped).
        let c_max = (0..p)
            .filter(|j| !excluded[*j])
            .map(|j| corr[j].abs())
            .fold(0.0, f64::max);
        if c_max <= 1e-12 || c_max <= floor {
            break;
        }
        if dropped.take().is_none() {
            if active.len() >= max_active {
                break;
            }
            let candidate = (0..p)
                .filter(|j| !in_active[*j] && !excluded[*j])
                .max_by(|a, b| corr[*a].abs().total_cmp(&corr[*b].abs()));
            let Some(j) = candidate else { break };
            let column: Vec<f64> = active.iter().map(|&i| gram.at(i, j)).collect();
            if !chol.push(&column, gram.at(j, j)) {
                excluded[j] = true;
                continue;
            }
            active.push(j);
            in_active[j] = true;
        }
        let signs: Vec<f64> = active.iter().map(|&j| corr[j].signum()).collect();
        let w = chol.solve(&signs);
        let norm = signs.iter().zip(&w).map(|(s, w)| s * w).sum::<f64>();
        if norm <= 0.0 {
            break;
        }
        let aa = 1.0 / norm.sqrt();
        let wa: Vec<f64> = w.iter().map(|v| v * aa).collect();
        // a_j = (Gram · direction)_j: how the correlations move along the step.
        let mut a = vec![0.0; p];
        for (&i, &wi) in active.iter().zip(&wa) {
            let row = &gram.data[i * p..i * p + p];
            for (aj, g) in a.iter_mut().zip(row) {
                *aj += g * wi;
            }
        }
        let c = c_max;
        let mut gamma = c / aa;
        for j in 0..p {
            if in_active[j] || excluded[j] {
                continue;
            }
            for g in [(c - corr[j]) / (aa - a[j]), (c + corr[j]) / (aa + a[j])] {
                if g > 1e-14 && g < gamma {
                    gamma = g;
                }
            }
        }
        // The lasso modification: a coefficient reaching zero leaves the active set.
        let mut drop_at = None;
        for (pos, (&j, &wj)) in active.iter().zip(&wa).enumerate() {
            if wj != 0.0 {
                let g = -beta[j] / wj;
                if g > 1e-14 && g < gamma {
                    gamma = g;
                    drop_at = Some(pos);
                }
            }
        }
        // Correlations fall by γ·AA along the step; stop on the requested penalty.
        let last = c - gamma * aa <= floor;
        if last {
            gamma = (c - floor) / aa;
            drop_at = None;
        }
        for (&j, &wj) in active.iter().zip(&wa) {
            beta[j] += gamma * wj;
        }
        for ((cj, gb), aj) in corr.iter_mut().zip(gram_beta.iter_mut()).zip(&a) {
            *cj -= gamma * aj;
            *gb += gamma * aj;
        }
        if let Some(pos) = drop_at {
            let j = active.remove(pos);
            in_active[j] = false;
            // β_j reached zero along the step, so Xᵀ X β already has no share of it.
            beta[j] = 0.0;
            chol.remove(pos);
            dropped = Some(j);
        }
        steps += 1;
        let rss = residual_sum_of_squares(xy, &gram_beta, y_sq, &beta, &active);
        let df = active.iter().filter(|&&j| beta[j] != 0.0).count();
        visit(&PathPoint {
            beta: &beta,
            alpha: (c - gamma * aa).max(0.0) / n as f64,
            rss,
            df,
        });
        if last {
            break;
        }
    }
    (beta, steps)
}

/// Runs the lasso path on (`gram`, `xy`) and returns the breakpoint minimising the criterion.
/// `y_sq` is ‖y‖², `y_var` the variance of y, `n` the number of samples; y and the columns of X
/// must be centred. `max_steps` bounds the path.
pub fn lasso_lars_ic(
    gram: &Gram,
    xy: &[f64],
    y_sq: f64,
    y_var: f64,
    n: usize,
    criterion: Criterion,
    max_steps: usize,
) -> LassoFit {
    let penalty = match criterion {
        Criterion::Aic => 2.0,
        Criterion::Bic => (n as f64).ln(),
    };
    let score = |rss: f64, df: usize| rss / (y_var + f64::EPSILON) + penalty * df as f64;
    let mut best = LassoFit {
        coef: vec![0.0; gram.p],
        alpha: max_abs(xy) / n as f64,
        df: 0,
        steps: 0,
    };
    let mut best_score = score(y_sq, 0);
    let mut step = 0;
    let (_, steps) = lasso_path(gram, xy, y_sq, n, 0.0, max_steps, |point| {
        step += 1;
        let s = score(point.rss, point.df);
        if s < best_score {
            best_score = s;
            best = LassoFit {
                coef: point.beta.to_vec(),
                alpha: point.alpha,
                df: point.df,
                steps: step,
            };
        }
    });
    best.steps = steps;
    best
}

/// The lasso solution at penalty `alpha` (exact, by walking the path down to it).
pub fn lasso_at(gram: &Gram, xy: &[f64], n: usize, alpha: f64, max_steps: usize) -> Vec<f64> {
    lasso_path(gram, xy, 0.0, n, alpha, max_steps, |_| {}).0
}

/// ‖y − Xβ‖² from the covariance form: ‖y‖² − 2βᵀXᵀy + βᵀ(XᵀXβ), over the non-zero β.
fn residual_sum_of_squares(
    xy: &[f64],
    gram_beta: &[f64],
    y_sq: f64,
    beta: &[f64],
    active: &[usize],
) -> f64 {
    let (lin, quad) = active.iter().fold((0.0, 0.0), |(lin, quad), &i| {
        (lin + beta[i] * xy[i], quad + beta[i] * gram_beta[i])
    });
    (y_sq - 2.0 * lin + quad).max(0.0)
}

/// Dot product with four independent sums, so the compiler can keep several lanes busy (a
/// single running sum serialises on the floating-point add).
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut lanes = [0.0; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4
        .remainder()
        .iter()
        .zip(b4.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a4.zip(b4) {
        for l in 0..4 {
            lanes[l] += x[l] * y[l];
        }
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

#[cfg(test)]
// The checks index several arrays by the same sample and feature numbers.
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// Centred random design with a sparse truth, and its centred response.
    fn problem(n: usize, p: usize, noise: f64, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut rng = SplitMix64::new(seed);
        let mut x: Vec<f64> = (0..n * p).map(|_| rng.normal()).collect();
        for j in 0..p {
            let mean = (0..n).map(|i| x[i * p + j]).sum::<f64>() / n as f64;
            for i in 0..n {
                x[i * p + j] -= mean;
            }
        }
        let truth: Vec<f64> = (0..p)
            .map(|j| {
                if j % 5 == 0 {
                    3.0 - j as f64 * 0.1
                } else {
                    0.0
                }
            })
            .collect();
        let mut y: Vec<f64> = (0..n)
            .map(|i| (0..p).map(|j| x[i * p + j] * truth[j]).sum::<f64>() + noise * rng.normal())
            .collect();
        let mean = y.iter().sum::<f64>() / n as f64;
        y.iter_mut().for_each(|v| *v -= mean);
        (x, y, truth)
    }

    fn fit(x: &[f64], y: &[f64], n: usize, p: usize, criterion: Criterion) -> LassoFit {
        let gram = Gram::of(x, n, p);
        let xy = xty(x, n, p, y);
        let y_sq = y.iter().map(|v| v * v).sum::<f64>();
        lasso_lars_ic(&gram, &xy, y_sq, y_sq / n as f64, n, criterion, 10 * p)
    }

    /// The lasso optimality conditions at `alpha`: active coefficients have correlation
    /// n·α·sign(β), inactive ones at most n·α.
    fn assert_kkt(x: &[f64], y: &[f64], n: usize, p: usize, fit: &LassoFit) {
        let resid: Vec<f64> = (0..n)
            .map(|i| y[i] - (0..p).map(|j| x[i * p + j] * fit.coef[j]).sum::<f64>())
            .collect();
        let corr = xty(x, n, p, &resid);
        let bound = n as f64 * fit.alpha;
        for j in 0..p {
            if fit.coef[j] != 0.0 {
                assert!(
                    (corr[j] - bound * fit.coef[j].signum()).abs() < 1e-6 * (1.0 + bound),
                    "active {j}: {} vs {bound}",
                    corr[j]
                );
            } else {
                assert!(
                    corr[j].abs() <= bound + 1e-6 * (1.0 + bound),
                    "inactive {j}: {} > {bound}",
                    corr[j]
                );
            }
        }
    }

    #[test]
    fn chosen_point_satisfies_the_lasso_optimality_conditions() {
        for seed in 1..6 {
            let (n, p) = (80, 30);
            let (x, y, _) = problem(n, p, 1.0, seed);
            for criterion in [Criterion::Aic, Criterion::Bic] {
                let f = fit(&x, &y, n, p, criterion);
                assert!(f.alpha > 0.0);
                assert_kkt(&x, &y, n, p, &f);
            }
        }
    }

    #[test]
    fn recovers_a_sparse_truth_with_little_noise() {
        let (n, p) = (200, 40);
        let (x, y, truth) = problem(n, p, 0.05, 11);
        let f = fit(&x, &y, n, p, Criterion::Bic);
        for j in 0..p {
            assert!(
                (f.coef[j] - truth[j]).abs() < 0.1,
                "coef {j}: {} vs {}",
                f.coef[j],
                truth[j]
            );
        }
        assert_eq!(f.df, truth.iter().filter(|t| **t != 0.0).count());
    }

    #[test]
    fn orthonormal_design_gives_soft_thresholding() {
        // X = √n · I (n = p): the lasso solution is soft-thresholding of Xᵀy/n at α.
        let n = 6;
        let scale = (n as f64).sqrt();
        let mut x = vec![0.0; n * n];
        for i in 0..n {
            x[i * n + i] = scale;
        }
        let y = [3.0, -1.0, 0.5, 2.0, -0.2, 0.1];
        let f = fit(&x, &y, n, n, Criterion::Aic);
        for j in 0..n {
            let z = y[j] / scale;
            let expected = z.signum() * (z.abs() - f.alpha).max(0.0);
            assert!(
                (f.coef[j] - expected).abs() < 1e-9,
                "{j}: {} vs {expected}",
                f.coef[j]
            );
        }
    }

    #[test]
    fn more_features_than_samples_stops_at_n_minus_one_and_stays_optimal() {
        let (n, p) = (20, 60);
        let (x, y, _) = problem(n, p, 0.5, 3);
        let f = fit(&x, &y, n, p, Criterion::Aic);
        assert!(f.df < n);
        assert_kkt(&x, &y, n, p, &f);
    }

    #[test]
    fn solution_at_a_given_penalty_is_optimal_there_on_unscaled_columns() {
        let (n, p) = (60, 25);
        let (mut x, y, _) = problem(n, p, 1.0, 21);
        // Columns of very different scales: the penalty then weighs them differently.
        for i in 0..n {
            for j in 0..p {
                x[i * p + j] *= 0.2 + j as f64 * 0.3;
            }
        }
        let gram = Gram::of(&x, n, p);
        let xy = xty(&x, n, p, &y);
        let alpha_max = max_abs(&xy) / n as f64;
        for fraction in [1.5, 0.5, 0.1, 0.01] {
            let alpha = alpha_max * fraction;
            let coef = lasso_at(&gram, &xy, n, alpha, 1000);
            if fraction >= 1.0 {
                assert!(coef.iter().all(|c| *c == 0.0));
            }
            let df = coef.iter().filter(|c| **c != 0.0).count();
            assert_kkt(
                &x,
                &y,
                n,
                p,
                &LassoFit {
                    coef,
                    alpha,
                    df,
                    steps: 0,
                },
            );
        }
    }

    #[test]
    fn removing_from_the_factor_matches_refactoring_the_rest() {
        let (n, p) = (40, 8);
        let (x, _, _) = problem(n, p, 0.0, 9);
        let gram = Gram::of(&x, n, p);
        let factor = |vars: &[usize]| {
            let mut chol = Cholesky::new(p);
            for (pos, &j) in vars.iter().enumerate() {
                let column: Vec<f64> = vars[..pos].iter().map(|&i| gram.at(i, j)).collect();
                assert!(chol.push(&column, gram.at(j, j)));
            }
            chol
        };
        for pos in 0..p {
            let mut chol = factor(&(0..p).collect::<Vec<_>>());
            chol.remove(pos);
            let rest: Vec<usize> = (0..p).filter(|j| *j != pos).collect();
            let fresh = factor(&rest);
            assert_eq!(chol.k, p - 1);
            for i in 0..p - 1 {
                for j in 0..=i {
                    assert!(
                        (chol.l[i * p + j] - fresh.l[i * p + j]).abs() < 1e-9,
                        "removing {pos}: L[{i}][{j}]"
                    );
                }
            }
        }
    }

    #[test]
    fn duplicated_columns_are_handled() {
        let (n, p) = (50, 10);
        let (mut x, y, _) = problem(n, p, 0.5, 5);
        for i in 0..n {
            x[i * p + 1] = x[i * p]; // column 1 equals column 0
        }
        let f = fit(&x, &y, n, p, Criterion::Aic);
        assert!(f.coef.iter().all(|c| c.is_finite()));
        assert!(
            f.coef[0] == 0.0 || f.coef[1] == 0.0,
            "one of two identical columns is used"
        );
    }
}
