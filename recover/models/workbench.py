"""The workbench's own Bayesian MMM in PyMC, and its estimands in the data's units.

On scaled data (:mod:`mmm_workbench.recover.models.data`), with ``x`` the scaled spend::

    y ~ Normal | StudentT(mu, sigma)
    mu = intercept + trend_slope * t + fourier @ gamma_fourier + controls @ gamma_control
         + sum_c saturation_beta_c * saturation(adstock(x_c))      (or adstock(saturation(x)))

with ``t`` running from 0 to 1 over the training rows (and on at the same step past them:
:func:`time_terms`). With ``lift_tests = true`` each
lift test adds ``delta_y ~ Normal(lift, sigma)``, ``lift`` the model's steady-state
per-period lift (:func:`mmm_workbench.recover.models.media.lift_graph`), all in scaled units.
Transform parameters are per channel (``pooling = "channel"``) or shared; a parameter
given in the scenario is held fixed. The data enter as ``pm.Data`` containers (``spend``,
``target``, ``controls``; ``trend_time``, ``fourier_terms``; ``lift_x``, ``lift_delta_x``,
``lift_delta_y``, ``lift_sigma``) whose shapes depend only on the cell, so one compiled model
serves every replicate, and the holdout is predicted by the same graph on the whole series'
containers (:mod:`mmm_workbench.recover.predictive`).

Sampling geometry (issue 14). The model's variables, priors and estimands are the
data-generating process's (``saturation_beta``, ``saturation_kappa``, ...), but the sampler
moves in coordinates the data identify, through PyMC transforms (the prior densities are
unchanged, the Jacobians are PyMC's, prior draws are the priors'):

* ``saturation_beta`` is sampled as ``log(beta * f(x_ref))``, the log of the channel's
  contribution at a reference spend ``x_ref`` (the median of its positive scaled spend in
  the cell's first replicate), not as ``log(beta)``: the data pin the contribution at
  typical spend, while ``beta`` alone trades off against the curve's scale (``kappa``,
  ``lam``...) along a curved ridge;
* Hill's ``saturation_kappa`` is sampled as ``slope * (log(kappa) - log(x_ref))``, the
  logit of the curve at ``x_ref`` with its sign flipped (the centred intercept of a
  logistic regression on ``log x``; ``logit`` for ``log`` where kappa's prior lives on (0,
  1)): ``kappa`` and ``slope`` are otherwise a banana whose curvature grows with the slope;
* the intercept is sampled as ``level``, the mean of ``mu`` over the training rows:
  ``intercept = level - mean_t(sum_c contribution_c + trend_slope * t + fourier @ gamma +
  controls @ gamma)``, the other terms' means read off the data containers (one compiled
  model per cell) and the sampler's values of their parameters (Jacobian 1). With
  always-on spend the data pin the level of ``mu``, not how it splits between the
  intercept and the media (or the trend's mean, ``trend_slope / 2``): in the intercept's
  coordinates that is a ridge, and the sampler's trees grow long along it.

* ``sd``: ``saturation_beta`` sampled as ``log(beta * sd_t f_t)``, the log standard
  deviation of the channel's contribution over the training rows (``f`` its media curve
  at ``beta = 1``, read off the ``spend`` container), with the intercept as ``level``.
  The data pin how much the contribution moves, not its mean (the intercept takes that):
  ``beta`` alone, or the contribution at a reference spend, slides along with the
  curve's shape;
* ``sd+hill1``: ``sd``, and Hill's ``kappa`` as ``(1 + slope) * (log(kappa) -
  log(x_ref))``: the curve's (sign-flipped) logit at ``x_ref`` for a steep curve, whose
  ``log(kappa)`` is pinned to within ``1 / slope``; ``log(kappa)`` for a flat one, whose
  ``kappa`` the data do not see (``slope * (...)`` then shrinks with the slope: a funnel).

In every geometry but ``dgp``, delayed adstock's ``theta`` under a prior on (0, inf) (the
default ``HalfNormal(2)``) is sampled as ``log(exp(theta) - 1)`` (:class:`SoftplusShift`),
not ``log(theta)``: the lag of the kernel's peak acts additively, and a weak channel's
``theta`` wanders to the kernel's far end, where the log scale's steps are ``theta`` times
too long. Measured on ``bench/bench_families.py``'s delayed + Hill world (defaults,
``sd+hill1``, target_accept 0.9, replicates 0 to 19): the divergent trajectories of the log
scale started at the weakest channel's ``theta`` 3.5 to 6.4 (``l_max`` 8); log 15 of 20
fits clean (divergences 2, 1, 26, 3, 4 in replicates 2, 7, 9, 14, 18), softplus 19 of 20
(replicate 9: 2 divergences and R-hat 1.0096, against 26 and 1.026; its trajectories start
at ``theta`` 13 to 18 with ``alpha`` near 0.06, a second mode of that channel's lag at the
kernel's end, which target_accept 0.95 does not mix: R-hat 1.019), 12.7 leapfrog steps per
draw against 13.6, min bulk ESS median 2080 against 1870
(``bench/results/families-theta-20261130.jsonl``; the log's: replicates 0 to 7 in
``families-hill-20261130.jsonl``, 8 to 19 in ``families-theta-log-20261130.jsonl``).

The logistic saturation, ``tanh(lam x / 2)``, has its own geometry, ``sd+lam`` (``auto``'s
choice for a logistic model under the default media priors): ``sd``, with ``lam`` sampled as
``log(exp(lam) - 1)`` (:class:`SoftplusShift`), and beta, for a channel whose spend stays in
a narrow band (:func:`narrow_spend`: always-on spend), as its log contribution at its mean
spend (:class:`ContributionSpreadOrReference`). Over a narrow band the data pin the curve's
local slope, not ``lam``; at fixed ``log(beta * sd_t f_t)`` beta grows like ``1 / lam`` as
``lam -> 0`` and like ``exp(lam * min_t x_t)`` as ``lam`` grows, and beta's
``HalfNormal(2)`` prior turns that into walls in ``lam``, on both sides, which the posterior
presses against (``lam``'s 1% to 99% quantiles 0.25 to 10 on a weak channel). In
``log(lam)`` the upper wall is doubly exponential; the divergent trajectories of
``sd+hill1`` on ``design-sweep``'s always-on cells start at ``lam`` 6 to 15 and end at
``lam`` 0.004 to 1e-7. Softplus makes that wall singly exponential, and the contribution at
the mean spend, which saturates to ``beta`` instead of vanishing, removes it. Measured on
``design-sweep`` (copies with ``[fit]`` reduced to ``backend = "nutpie"``, 2 replicates a
cell, load 4 to 6): at the defaults (4 x 1000 draws, target_accept 0.95) ``sd+lam`` 24 of 24
clean (max R-hat 1.0074), against ``sd+hill1`` 5 of 12 on the always-on cells (1 to 10
divergences in 7 fits); replicates 0 to 3 of the always-on cells again (the same
coordinates, other rounding: other trajectories) gave 19 of 24, 0 divergences, R-hat 1.011
to 1.018 in 5 fits, 3 of them in the 52-week cell with lift tests (``lam`` and beta's
coordinate of the weak channel mix slowly: min bulk ESS 500 to 620, up to 29 leapfrog steps
per iteration): 43 of 48 in all, 31 of 36 always-on fits, none with a divergence
(``bench/results/survey-design-sweep-sd-lam-20261130.json``). There ``sd+lam`` takes 14 to
27 leapfrog steps per iteration against 12 to 29 (means 20.4 and 18.2), min bulk ESS 440 to
1780 against 964 to 1726, while the flighted cells take 7 to 13. At target_accept 0.9:
``sd+hill1`` 14 of 24 (10 of 12 always-on fits with 2 to 26 divergences), softplus ``lam``
alone 17 of 24, ``sd+lam`` (beta then at the median spend) 0 divergences in 18 fits, 16
clean (R-hat 1.012 and 1.011). Tried: ``level`` (beta as ``log(beta)``) with softplus
``lam``: 1 to 8 divergences and R-hat up to 1.024 on two always-on cells; ``data+level``
with ``log(lam)``: 10 and 10 divergences on the 52-week cell with lift tests, where
``sd+lam``'s coordinates gave 0 and 0. Where no channel is narrow only ``lam`` moves:
``confounded-demand`` (its own ``[fit]``, 20 replicates) 20 of 20 clean in both, 45,000
leapfrog steps a fit against 48,100; ``quickstart`` (its own ``[fit]``, 10 fits) 10 of 10 in
both, 64,800 against 66,700; ``bench/bench_families.py``'s geometric + logistic (8
replicates) 8 of 8 in both, 13.8 steps per draw against 14.4, min bulk ESS median 2662
against 2209 (``bench/results/survey-confounded-demand-sd-lam-20261130.json``,
``families-logistic-sweep-20261130.jsonl``).

With lift tests (``lift_tests = true``) a logistic model under the default media priors gets
``sd+lift``: ``sd+lam``, except that a narrow-band channel with a lift test has beta sampled
as ``log(beta) + mean over its tests of log |f(x + delta_x) - f(x)|``, the log of the
steady-state lift the model computes for the test (:func:`lift_graph` at ``beta = 1``, the
tests' spend read off the ``lift_x`` and ``lift_delta_x`` containers). With always-on spend
the data pin little but the lift: in ``sd+lam``'s contribution at the mean spend the lift
ties beta's coordinate to ``lam`` along ``log((f(x) - f(x/2)) / f(x))``, which moves from
``log(1/2)`` (``lam -> 0``) to ``-inf`` (saturated), and ``lam``, beta's coordinate and the
intercept (the contribution's level, traded with it) mix slowly together. Measured (issue
14; ``CellFitter``, the runner's path, at the defaults, one fit at a time on the shared
2-core machine at load 3 to 6; the cells of ``design-sweep`` cut to one by a copy of its
TOML with a reduced grid, the same cell ids, run as ``MMM_WORKBENCH_GEOMETRY=sd+lam
mmm-workbench run COPY.toml --replicates 8``; per-parameter R-hat and ESS from the kept
draws, ``bench/results/design-sweep-lift-20261130.jsonl``): on the 52-week always-on cell
with lift tests, replicates 0 to 7, ``sd+lam`` 6 of 8 clean (R-hat 1.0103 and 1.0102, no
divergences; the slowest parameters the intercept and the weaker channel's ``lam``, min bulk
ESS 480 to 1091, median 628), 14.0 to 28.7 leapfrog steps per draw (mean 20.9, 177,000 a fit
with tuning); ``sd+lift`` 7 of 8 (replicate 7: one divergence, R-hat 1.0029; it starts at
the weaker channel's ``lam`` 8.7 and beta 0.95, against medians 3.5 and 0.22: the saturated
side, where at a fixed lift beta grows like ``exp(lam x / 2)`` into its prior, a wall the
coordinate at the mean spend did not have), max R-hat 1.0051, min bulk ESS 1508 to 2576, 8.7
to 12.2 steps per draw (mean 9.9, 84,000 a fit); the 156- and 520-week always-on cells with
lift tests, replicates 0 to 3: ``sd+lift`` 8 of 8, max R-hat 1.0045, min bulk ESS 1444 to
2360, 8.8 to 10.9 steps per draw (``sd+lam``: 3 of 4 and 4 of 4, min ESS 593 and 929,
``bench/results/survey-design-sweep-sd-lam-20261130.json``). So the misses were R-hat noise
at a low ESS, and the ESS was low because of the coordinates: with the lift's coordinate the
same fits have 2 to 3 times the min ESS at half the gradients. Where no narrow channel has a
lift test (``design-sweep``'s flighted cells) ``sd+lift``'s graph is ``sd+lam``'s; a model
without lift tests keeps ``sd+lam`` (no other shipped scenario fits the workbench model with
lift tests: ``bench/bench_families.py``'s worlds and ``confounded-demand`` are unchanged).
The whole scenario at the shipped settings (``mmm-workbench run design-sweep --workers 1``,
3 replicates, load 2 to 3): 35 of 36 clean, no divergences, the 6 cells with lift tests 18
of 18 (max R-hat 1.0051; the lowest min bulk ESS of a cell 1444 to 1986 in the always-on
ones, against 440 to 929 in ``sd+lam``'s runs, and 1575 to 3662 in the flighted ones); the
miss is the 520-week always-on cell without lift tests (``sd+lam``, R-hat 1.011, min bulk
ESS 703), whose misses (R-hat 1.0146 in ``sd+lam``'s earlier run of the 52-week one)
``sd+lift`` does not touch (``bench/results/survey-design-sweep-sd-lift-20261130.json``). On
``design-sweep``'s 156-week flighted cell with lift tests replicate 2 gave the same draws'
diagnostics in ``sd+lam`` and ``sd+lift`` (R-hat 1.0031, min bulk ESS 1575).

A variable whose prior has another support (``Uniform``, a ``HalfNormal`` intercept) keeps
PyMC's transform.

:data:`GEOMETRY` chooses: ``"auto"`` (the default since issue 14's default priors:
:func:`resolve_geometry`, ``"sd+hill1"`` (``"sd+lam"``, or ``"sd+lift"`` with lift tests,
for a logistic saturation: above) unless the scenario gives its own prior for beta or
the saturation's parameters, then ``"level"``, or ``"sd+hill1"`` again for a Hill model
whose priors let the data see its curves: below), ``"level"`` (the intercept only; the
default before), ``"sd+hill1"``
(beta, Hill's kappa and the intercept as in the last two items), ``"sd"`` (beta and the
intercept), ``"dgp"`` (every
variable in PyMC's default transform of the DGP's parameterization, the model before issue
14), ``"data"`` (beta and kappa as in the first two items), ``"data+level"``. Measured on
``bench/bench_families.py``'s worlds (3 channels, 104 weeks, trend and seasonality;
shipped defaults, target_accept 0.8; replicates 0-3; ``bench/results/families-geometry-
20261130.jsonl`` and ``families-geometry2-20261130.jsonl``), ``level`` against
``sd+hill1``: geometric + logistic 4 of 4 clean in both, 17 against 8 leapfrog steps per
draw, min bulk ESS 457-767 against 1428-2628; Weibull + Michaelis-Menten 4 of 4 in both, 20
against 8.5 steps, ESS 689-1143 against 1759-3146; geometric + Hill 0 of 4 in both,
divergences 17-88 against 19-70 per fit, 34 against 13 steps, ESS 178-492 against 912-1454;
delayed + Hill 0 of 3 against 0 of 4, divergences 54-258 against 1-29, 25 against 14 steps.
The Hill fits' remaining divergences sit at a channel's flat corner (kappa near 0 with a
high slope, or a slope near 0: the curve barely moves over the data, ``beta = spread /
sd_t f_t`` reaches its prior's edge and the intercept goes very negative), a corner of the
posterior under the default priors, not of the coordinates; at target_accept 0.95
``sd+hill1`` had 0, 0, 1, 0 and 0, 0, 2, 0 divergences (17 to 25 steps per draw). Tried and
dropped (same worlds): beta as the log of its mean contribution (fewer divergences than
``level``, no faster), Hill's kappa as ``slope * (...)`` with ``sd`` (a funnel at small
slopes: 261 to 306 divergences), a spread floored at a tenth of the mean (no better).
``sd+hill1`` is not the default: on the shipped ``delayed-hill`` scenario (2 replicates per
cell) its second cell, where beta's prior caps the media and their posterior is the
prior's, had 45 and 58 divergences against 0 and 0 in ``level`` (the first cell: 0 and 0
in both, min ESS 1544-1644 against 631-661; the third, kappa's prior in dollars: R-hat
1.15 and 1.07 against 1.02 and 1.01). Beta's spread ties it to the curve's parameters,
which a prior-dominated posterior does not do.

With the default priors of issue 14 (:mod:`mmm_workbench.recover.models.priors`: Hill's
kappa and slope and delayed adstock's alpha kept off the flat corners) and target_accept
0.9, on the same worlds (8 replicates each, ``bench/results/families-hill-20261130.jsonl``):
``sd+hill1`` 8 of 8 clean on geometric + Hill (``level``: 6 of 8, 1 divergence in each of
two fits) and on geometric + logistic (``level``: R-hat 1.013, 1.015 and 1.010 in 3 of its
first 5, min bulk ESS about 500 against 1459-2330) and Weibull + Michaelis-Menten; delayed +
Hill 6 of 8 (1 and 2 divergences; ``level`` 7 of 8, one fit with 1), 19 of 20 since
``theta`` is sampled as softplus (above). ``sd+hill1`` takes 10
to 13 leapfrog steps per draw against ``level``'s 17 to 25. On the shipped ``delayed-hill``
(its own priors, 4 replicates, target_accept 0.9) ``level`` keeps cell 2 clean (4 of 4)
where ``sd+hill1`` had 20 to 27 divergences a fit, and both leave 2 of 4 fits of cell 1
with divergences (3 and 13 in ``level``, 1 and 1 in ``sd+hill1``): hence ``"auto"``.

``"auto"`` also gives ``sd+hill1`` to a Hill model with its own media priors when, on the
cell's scaled data, those priors let the data see each channel's curve
(:func:`hill_curves_in_view`): ``delayed-hill``'s first cell (Jin et al.'s priors, sales in
thousands; kappa's Beta(2, 2) moved as ``(1 + slope)(logit kappa - logit x_ref)``), not its
second (beta's prior caps the media at a thousandth of the target's spread) nor its third
(kappa's prior then in dollars, since redesigned, below; ``sd`` there: R-hat 1.36 and
1.11, 18 and 6 divergences in replicates 0 and 1). Since issue 14's last round it is
``sd+hill1+lr``, with a low-rank mass matrix (the last paragraph). On the first cell
(replicates 0 to 11, target_accept 0.9,
``bench/results/delayed-hill-dh-20261130.jsonl``): 8 of 12 fits clean against ``level``'s 6,
divergences 0, 0, 1, 1, 0, 5, 0, 0, 0, 18, 0, 0 against 0, 0, 3, 13, 0, 2, 0, 0, 0, 80, 0, 1
(replicate 9: R-hat 1.030 against 1.007; ``level``'s replicate 10: 1.012), min bulk ESS
1331 to 2041 against 551 to 888 (replicate 9 aside: 261 against 396), 11.6 to 14.6
leapfrog steps per draw against 18.4 to 27.3 (replicates 2 to 11). The
divergences left start at one corner, search's (its true lag 0, the prior's boundary):
kappa 0.03 to 0.1, near the lowest weeks' scaled spend (0.034), with slope 4 to 8, a step
between the few low weeks and the rest, whose walls the trajectories hit; at target_accept
0.97 replicates 5 and 3 had 0 and 1 (16.8 and 17.2 steps per draw). Theta's interval
coordinate is not the cause: it is ``log``-like near 0 as softplus is, and the
trajectories' largest moves were in kappa's coordinate.

At the default target_accept 0.95 (since 3c9f7e9; same replicates and log): ``sd+hill1``
9 of 12 clean (3, 2 and 6 divergences in replicates 2, 5 and 9), ``level`` 8 of 12 (7, 5,
5 and 28 in 2, 3, 5 and 9), 14.5 to 16.2 leapfrog steps per draw against 26.4 to 36.7;
with nutpie's low-rank mass matrix as well (``options = { adaptation = "low_rank" }``)
``sd+hill1`` 11 of 12 (replicate 9: 7 divergences, R-hat 1.022), and the second cell, in
``level``, 4 of 4 at 14.4 steps per draw. The third cell was clean in none of the
geometries tried: at 0.95 ``level`` had R-hat 1.136, 1.014, 1.003 and 1.010 (1 divergence),
with the low-rank mass matrix 1.048, 1.012, 1.009 and 1.008 (1 divergence); ``sd`` 1.36 and
1.11, ``data+level`` 1.27 with 425 divergences in its first replicate. Its search channel's
contribution collapses (ROAS -67% to -78%), which wants beta on its own log scale, while
the other channels' curves are flat over the data (a power law of spend) and their beta
trades with the slope along ``log beta = c + slope * log kappa``, which wants the spread.

Tried there last (``MMM_WORKBENCH_GEOMETRY=ref``, a geometry of commit 9559aec since
removed): beta as its log contribution at the reference spend (:class:`ContributionAtReference`)
with kappa on its own log scale and the intercept as ``level``, where the power law
``exp(v) (x / x_ref)^slope`` is nearly independent of kappa. Replicate 0: 2010 divergences,
R-hat 8.54 (``mmm-workbench run`` of a copy of the scenario holding the third cell alone,
``--workers 1``, load 5 to 7). beta's ``HalfNormal(1)`` then reads ``beta = exp(v + slope *
log(kappa / x_ref))``, ``log(kappa / x_ref)`` 9.2 to 9.5: a wall doubly exponential in the
slope. The posterior itself bends: the data pin each flat channel's spread, about ``beta *
exp(-D slope) * slope * sd_t log x_t`` with ``D = log(kappa / x)``, beta's prior caps beta
near 1, so the slope is held near ``1 / D`` and in ``(log beta, log slope)`` the posterior
is a parabola, two slopes for each beta, which no coordinate tried straightens. That cell's
lesson was the sampler's failure, so the cell was redesigned (issue 14): kappa's prior in
thousands of dollars, ``Gamma(mu = 5, sigma = 2)``, its median 4.9 times 9.8 to 13.2 the
channels' reference spends (``level``: :func:`hill_curves_in_view`), ``D`` about 2.5. At
the shipped defaults (``mmm-workbench run scenarios/delayed-hill.toml --out RUN --workers
1 --quiet``, load 5 to 7; ``bench/survey.py``): 4 of 4 clean, max R-hat 1.0088, min bulk ESS
628 to 1384; kappa's posterior stays near its prior (prior overlap 0.68 to 0.87, no 90%
interval covering), the media's share 20.4% against 20.2%, every ROAS interval covering.
Replicates 0 to 11 (``--replicates 12 --only a82e63fd``): 11 of 12, no divergence in any,
replicate 9 R-hat 1.0149 (min bulk ESS 370; the others 1.0029 to 1.0088). On replicates 9
and 2 (a script fitting them with :class:`~mmm_workbench.recover.fitting.CellFitter`)
``level`` with the low-rank mass matrix gave R-hat 1.0179 and 1.0176 (ESS 255 and 465;
323,000 and 242,000 leapfrog steps against ``level``'s 339,000 and 291,000), ``sd+hill1``
1.0237 and 1.0162 (ESS 181 and 277): ``level`` is kept
(``bench/results/delayed-hill-redesign-20261130.jsonl``,
``survey-delayed-hill-shipped-20261130.json``, ``survey-delayed-hill-12rep-20261130.json``).

``sd+hill1+lr`` (``auto``'s choice for a Hill model whose own priors keep its curves in
view, ``delayed-hill``'s first cell): ``sd+hill1``'s coordinates and nutpie's low-rank
mass matrix (``adaptation = "low_rank"``, a linear change of coordinates learned in tuning;
:data:`LOW_RANK`, ``[fit].options`` override it), chosen inside ``auto`` so cell ids do not
change. With the option in ``[fit]`` (other cell ids, so other seeds: replicates 0 to 11)
11 of 12 clean against 9 of 12 with the diagonal; at the shipped seeds (``mmm-workbench run
scenarios/delayed-hill.toml --out RUN --workers 1 --quiet``, then ``--replicates 12 --only
492726cd``; load 5 to 7) 10 of 12 against the diagonal's 9 (3, 2 and 6 divergences in
replicates 2, 5 and 9 there): replicate 2 1 divergence (R-hat 1.0031), replicate 9 9
divergences and R-hat 1.0217 (min bulk ESS 293);
183,500 to 219,900 leapfrog steps a fit, tuning included (14.5 to 17.0 steps per draw
against 14.5 to 16.2 in the earlier run). At target_accept 0.98 (the same seeds) replicate 2
still had 1 divergence, replicate 9 none (R-hat 1.009), at 1.4 times the leapfrog steps.
The shipped scenario (4 replicates a cell) is then 11 of 12 clean: the first cell is not
solved. Its two misses sit at two corners of the posterior itself, where search (true beta
0.15 in the scaled units against a noise sd of 0.03) is weakly identified: in replicate 9
search's kappa is below 0.15 in 22% of the draws (a step between the lowest weeks and the
rest; 8 of its 9 divergences at kappa 0.07 to 0.16 with slope 5 to 10.6 and theta 0.05 to 0.3),
and there ``u`` and ``log(slope)`` correlate at -0.79 against -0.08 over the other draws: a
bend no linear mass matrix follows; replicate 2's divergence sits at search's beta 0.026,
its 2nd percentile, the funnel where a vanishing effect frees the curve's parameters.
Measured since (a script fitting the first cell's replicates with
:class:`~mmm_workbench.recover.fitting.CellFitter` at the shipped seeds, load 4 to 5): kappa on
its own logit scale with the low-rank mass matrix (``sd`` coordinates) 7 of 12 (2, 4, 6 and 10
divergences in replicates 2, 3, 5 and 9, and R-hat 1.011 in 10); target_accept 0.99 left
replicate 2's divergence (R-hat 1.0025) and gave replicate 9 none but R-hat 1.0109 at 2.1 to 2.2
times the leapfrog steps; 2000 tuning draws gave 2 and 3 divergences (replicate 9: R-hat 1.041);
Hill's slope on the softplus scale, which makes the step corner's ridge straight in ``(u, t)``
with ``slope = softplus(t)`` (at fixed kappa ``u`` grows like ``1 + slope``), gave replicate 9
no divergence but R-hat 1.042 (min bulk ESS 154: the chains split the corner's mass differently)
and replicate 2 3 divergences; ``level+lr`` (beta and kappa on their own scales, the low-rank
mass matrix) 33 and 1 divergences in replicates 9 and 2
(``bench/results/delayed-hill-corners-20261201.jsonl``). Neither corner is the coordinates': the
scenario's priors (Jin et al.'s slope Gamma(3, 1), beta HalfNormal(1)) reach both.
The geometric + Hill and delayed + Hill worlds of ``bench/bench_families.py`` run under the
default priors, which ``auto`` gives ``sd+hill1``: they do not take this branch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from numpy.typing import NDArray
from pymc.logprob.transforms import Transform

from mmm_workbench.recover.models.data import LIFT_CONTAINERS, ModelData
from mmm_workbench.recover.models.geo import GeoWorkbenchModel, build_geo
from mmm_workbench.recover.models.media import (
    MediaModel,
    compile_media,
    lift_graph,
    media_graph,
    time_terms,
)
from mmm_workbench.recover.models.priors import default_scale, make_prior, prior_for
from mmm_workbench.recover.models.transforms import param_names, saturation
from mmm_workbench.scenarios.spec import ModelSpec

__all__ = [
    "GEOMETRIES",
    "GEOMETRY",
    "NARROW_SPEND",
    "ContributionAtReference",
    "ContributionSpread",
    "ContributionSpreadOrReference",
    "Geometry",
    "HillLocation",
    "MeanLevel",
    "WorkbenchModel",
    "build_workbench",
    "hill_curves_in_view",
    "narrow_spend",
    "reference_spend",
    "resolve_geometry",
    "time_terms",
]

Array = NDArray[np.float64]

Geometry = Literal[
    "auto",
    "dgp",
    "data",
    "level",
    "data+level",
    "sd",
    "sd+hill1",
    "sd+lam",
    "sd+lift",
    "sd+hill1+lr",
    "level+lr",
]
GEOMETRIES: tuple[Geometry, ...] = get_args(Geometry)


LOW_RANK = "+lr"
"""A geometry's suffix: nutpie adapts a low-rank mass matrix (``adaptation = "low_rank"``), a
linear change of coordinates learned in tuning, unless ``[fit].options`` sets ``adaptation``."""

DEFAULT_GEOMETRY: Geometry = "auto"
"""The geometry when ``MMM_WORKBENCH_GEOMETRY`` is not set (:func:`resolve_geometry`)."""


def _geometry_from_env() -> Geometry:
    value = os.environ.get("MMM_WORKBENCH_GEOMETRY", DEFAULT_GEOMETRY)
    for known in GEOMETRIES:
        if value == known:
            return known
    raise ValueError(
        f"MMM_WORKBENCH_GEOMETRY = {value!r}: not a geometry (one of {', '.join(GEOMETRIES)})"
    )


GEOMETRY: Geometry = _geometry_from_env()
"""How the sampler sees the model's parameters (module docstring): ``"auto"``, the default,
``"sd+lam"``, ``"sd+hill1"`` or ``"level"`` chosen from the spec and, for a Hill model with its own
media priors, the cell's data (:func:`resolve_geometry`); ``"level"``, the intercept sampled as the
mean of ``mu`` over the training rows; ``"sd+hill1"``, also beta as the log spread of its
contribution and Hill's kappa as ``(1 + slope)(log kappa - log x_ref)`` (``logit`` for ``log`` under
a prior on (0, 1)); ``"sd"``, beta and the intercept; ``"dgp"``, PyMC's default transforms of the
DGP's parameters (the parameterization before issue 14); ``"data"``, beta and Hill's kappa at a
reference spend; ``"data+level"``, ``"data"`` and the intercept; ``"sd+lam"``, ``"sd"`` with the
logistic's ``lam`` on the softplus scale and a narrow-band channel's beta at its mean spend;
``"sd+lift"``, ``"sd+lam"`` with a narrow-band channel's beta at its lift tests' lift instead;
a ``"+lr"`` suffix (``"sd+hill1+lr"``, ``"level+lr"``: :data:`LOW_RANK`) adds nutpie's low-rank
mass matrix to the coordinates before it. The environment variable ``MMM_WORKBENCH_GEOMETRY``
sets it for a whole run (worker processes inherit it), for before/after measurements."""


def reference_spend(spend: Array) -> Array:
    """Return each channel's reference spend: the median of its positive scaled spend.

    Parameters
    ----------
    spend
        Scaled spend, ``(T, C)``.

    Returns
    -------
    Array
        ``(C,)``; 1 for a channel that never spends.
    """
    out = np.ones(spend.shape[1])
    for c in range(spend.shape[1]):
        positive = spend[:, c][spend[:, c] > 0]
        if positive.size:
            out[c] = float(np.median(positive))
    return out


NARROW_SPEND = 0.25
"""A channel's spend is narrow when its standard deviation over the rows is below this
share of its reference spend (:func:`narrow_spend`)."""


def narrow_spend(spend: Array) -> NDArray[np.bool_]:
    """Return which channels spend in a narrow band: ``sd_t x_t < NARROW_SPEND * x_ref``.

    ``x_ref`` is the channel's reference spend (:func:`reference_spend`). Measured on the
    shipped worlds' first replicates: ``design-sweep``'s always-on spend 0.13 to 0.17 (a
    log-normal level with ``noise_sd = 0.15``), its flighted spend 0.33 to 0.52,
    ``confounded-demand`` 0.48 to 0.53, ``quickstart`` 0.42 to 0.48,
    ``bench/bench_families.py``'s worlds 0.42 to 0.44.

    Parameters
    ----------
    spend
        Scaled spend, ``(T, C)``.

    Returns
    -------
    NDArray[np.bool_]
        ``(C,)``; a channel that never spends is narrow.
    """
    return np.asarray(np.std(spend, axis=0) < NARROW_SPEND * reference_spend(spend), dtype=bool)


def resolve_geometry(
    spec: ModelSpec,
    geometry: Geometry | None = None,
    scaled: Mapping[str, Array] | None = None,
) -> Geometry:
    """Return the geometry a model of ``spec`` is sampled in (``"auto"`` resolved).

    ``"auto"`` chooses from the spec: ``"sd+lam"`` for a logistic saturation (``"sd+lift"``
    with lift tests) and
    ``"sd+hill1"`` for any other when the scenario gives no prior of
    its own for ``saturation_beta`` or the saturation's parameters (the defaults keep the
    curve moving over the data, so the data pin the spread of each contribution), else
    ``"level"``: where a scenario's priors may leave the media to their prior (the shipped
    ``delayed-hill``'s second cell), the spread coordinate ties beta to the curve's
    parameters, which the prior does not (20 to 27 divergences a fit there at
    target_accept 0.9, against 0 in ``level``). A Hill model with its own media priors
    gets ``"sd+hill1+lr"`` when, on the cell's scaled data (``scaled``: its ``target``
    and ``spend``), those priors let the data see each channel's curve
    (:func:`hill_curves_in_view`): ``delayed-hill``'s first cell, Jin et al.'s priors on
    sales in thousands (replicates 0 to 11 at target_accept 0.9: 8 clean fits against 6 in
    ``level``, 25 divergences against 99, 1.7 times fewer leapfrog steps per draw; at 0.95:
    9 against 8, half the steps); with nutpie's low-rank mass matrix, ``"sd+hill1+lr"``
    (the module docstring's last paragraph).

    Parameters
    ----------
    spec
        The model spec.
    geometry
        The geometry asked for; :data:`GEOMETRY` (the environment's) by default.
    scaled
        The cell's first replicate's scaled data (:meth:`ModelData.scaled`); without it a
        scenario's own media priors give ``"level"``.
    """
    chosen = GEOMETRY if geometry is None else geometry
    if chosen != "auto":
        return chosen
    media = {"saturation_beta"} | {
        f"saturation_{p}" for p in param_names("saturation", spec.saturation.kind)
    }
    if spec.saturation.kind == "logistic" and not media & set(spec.priors):
        return "sd+lift" if spec.lift_tests else "sd+lam"
    if not media & set(spec.priors):
        return "sd+hill1"
    if spec.saturation.kind == "hill" and scaled is not None and hill_curves_in_view(spec, scaled):
        return "sd+hill1+lr"
    return "level"


def hill_curves_in_view(spec: ModelSpec, scaled: Mapping[str, Array]) -> bool:
    """Whether a Hill model's priors let the data see each channel's curve.

    Two conditions, both on the priors' draws (1000, seed 0) against the cell's scaled data:
    ``saturation_beta``'s 90% quantile reaches the standard deviation of the scaled target
    (a channel may move the target as much as it moves), and ``saturation_kappa``'s median
    lies within a factor 10 of every channel's reference spend (:func:`reference_spend`;
    a fixed ``kappa`` is not checked). Otherwise the posterior of the media parameters is
    (nearly) their prior: ``delayed-hill``'s second cell (beta's prior caps the media at a
    thousandth of the target's spread) and third (kappa's prior, written in thousands of
    dollars, has its median 9.8 to 13.2 times the channels' reference spends: two of three
    out of view; written in dollars, as it once was, 10,000 times); there the spread
    coordinate ties beta to a curve the data do not see (R-hat 1.36 and 1.11, 18 and 6
    divergences, in ``sd`` on the dollars cell's first two replicates) and ``level`` is kept.

    Parameters
    ----------
    spec
        A Hill model's spec.
    scaled
        The cell's first replicate's scaled data, with ``target`` ``(T,)`` and ``spend``
        ``(T, C)``.
    """
    names = ["saturation_beta"]
    if "kappa" not in spec.saturation.params:
        names.append("saturation_kappa")
    draws = pm.draw([_prior_dist(n, spec) for n in names], draws=1000, random_seed=0)
    beta = np.quantile(np.asarray(draws[0], dtype=float), 0.9, axis=0)
    if not np.all(beta >= np.std(scaled["target"])):
        return False
    if len(names) == 1:
        return True
    kappa = np.median(np.asarray(draws[1], dtype=float), axis=0)
    ratio = np.abs(np.log(kappa) - np.log(reference_spend(scaled["spend"])))
    return bool(np.all(ratio <= np.log(10.0)))


def _prior_dist(name: str, spec: ModelSpec) -> Any:
    """Return ``name``'s prior as an unnamed PyMC distribution (for draws)."""
    prior = prior_for(name, spec)
    dist = getattr(pm, prior.dist)
    return dist.dist(**{k: np.asarray(v, dtype=float) for k, v in prior.args.items()})


def _time_data(name: str, time: Mapping[str, Array], dims: tuple[str, ...]) -> Any:
    """Return a time term's container, its shape static (a replicate's never differs).

    Static as the constants it replaces were: PyTensor then rewrites the graph as it did
    for them. Measured against the constants: the log density is the same bit for bit, its
    gradient too with a trend or Fourier terms alone and within 5e-15 (sigma's) with both;
    nutpie fits (2 chains of 100 draws) with a trend and with both, and a MAP fit with a
    trend, gave the same draws bit for bit; a MAP fit with both did not (L-BFGS follows the
    gradient's last digits: 1e-3 apart). The
    holdout's longer containers are swapped in by :mod:`mmm_workbench.recover.predictive`,
    which frees the shape.
    """
    value = time[name]
    return pm.Data(name, value, dims=dims, shape=value.shape)


def _value(model: pm.Model, rv: Any) -> Any:
    """Return ``rv`` as a function of the sampler's value variables (its transform undone)."""
    value = model.rvs_to_values[rv]
    transform = model.rvs_to_transforms.get(rv)
    return value if transform is None else transform.backward(value, *rv.owner.inputs)


class HillLocation(Transform):  # type: ignore[misc]  # pymc's Transform is untyped
    """Hill's ``kappa`` sampled as ``u = (slope + offset) * (g(kappa) - g(x_ref))``.

    ``g`` is ``log`` for a prior on (0, inf), ``logit`` for one on (0, 1) (``unit``); for
    ``kappa`` well below 1 the two agree, and with ``offset = 0`` ``-u`` is then the logit
    of the Hill curve at the reference spend ``x_ref``. ``slope`` is the model's slope
    variable (``slope_rv``, for the initial point) and the same slope as a function of the
    sampler's values (``slope_value``, for the density), or a constant when the scenario
    fixes it. ``offset = 1`` (the ``sd+hill1`` geometry) keeps ``u`` near ``log(kappa)``'s
    scale for a flat curve (slope near 0, where ``kappa`` is its prior's and ``u`` would
    shrink with the slope: a funnel) and near the curve's logit for a steep one.
    """

    name = "hill_location"

    def __init__(
        self,
        slope_rv: Any,
        slope_value: Any,
        log_ref: Array,
        unit: bool = False,
        offset: float = 0.0,
    ) -> None:
        self.slope_rv = slope_rv + offset if offset else slope_rv
        self.slope_value = slope_value + offset if offset else slope_value
        self.unit = unit
        ref = np.exp(np.asarray(log_ref, dtype=float))
        if unit:  # logit(x_ref), with x_ref kept inside (0, 1)
            ref = np.clip(ref, 0.01, 0.99)
            self.name = "hill_logit_location"
        self.ref = pt.as_tensor_variable(np.log(ref / (1.0 - ref)) if unit else np.log(ref))

    def _g(self, kappa: Any) -> Any:
        return pt.log(kappa / (1.0 - kappa)) if self.unit else pt.log(kappa)

    def forward(self, value: Any, *inputs: Any) -> Any:
        """Return ``u`` from ``kappa``."""
        return self.slope_rv * (self._g(value) - self.ref)

    def backward(self, value: Any, *inputs: Any) -> Any:
        """Return ``kappa`` from ``u``."""
        w = self.ref + value / self.slope_value
        return pt.sigmoid(w) if self.unit else pt.exp(w)

    def log_jac_det(self, value: Any, *inputs: Any) -> Any:
        """Return ``log |d kappa / d u|``: ``log(kappa) - log(slope + offset)`` (log ``g``)."""
        w = self.ref + value / self.slope_value
        log_dk_dw = -pt.softplus(-w) - pt.softplus(w) if self.unit else w
        return log_dk_dw - pt.log(self.slope_value)


class SoftplusShift(Transform):  # type: ignore[misc]  # pymc's Transform is untyped
    """A lag ``theta`` >= 0 sampled as ``u = log(exp(theta) - 1)``: ``theta = softplus(u)``.

    Delayed adstock's ``theta`` shifts the kernel's peak by lags: the likelihood sees it on
    its own, additive scale. PyMC's log transform moves ``theta`` by ``theta * du``, so a
    step that suits ``theta`` near 0 is ``theta`` times too long where a weakly identified
    channel's ``theta`` wanders to the kernel's far end. ``softplus`` is ``log`` near 0
    (``theta ~ exp(u)``) and the identity far from it.
    """

    name = "softplus"

    def forward(self, value: Any, *inputs: Any) -> Any:
        """Return ``u`` from ``theta``: ``theta + log(1 - exp(-theta))``."""
        return value + pt.log(-pt.expm1(-value))

    def backward(self, value: Any, *inputs: Any) -> Any:
        """Return ``theta`` from ``u``."""
        return pt.softplus(value)

    def log_jac_det(self, value: Any, *inputs: Any) -> Any:
        """Return ``log |d theta / d u|`` = ``log(sigmoid(u))``."""
        return -pt.softplus(-value)


class ContributionAtReference(Transform):  # type: ignore[misc]  # pymc's Transform is untyped
    """``beta`` sampled as ``v = log(beta) + log(f(x_ref))``, the log contribution at ``x_ref``.

    ``log_f_rv`` is ``log f(x_ref)`` of the model's saturation variables (for the initial
    point), ``log_f_value`` the same of the sampler's values (for the density).
    """

    name = "contribution_at_reference"

    def __init__(self, log_f_rv: Any, log_f_value: Any) -> None:
        self.log_f_rv = log_f_rv
        self.log_f_value = log_f_value

    def forward(self, value: Any, *inputs: Any) -> Any:
        """Return ``v`` from ``beta``."""
        return pt.log(value) + self.log_f_rv

    def backward(self, value: Any, *inputs: Any) -> Any:
        """Return ``beta`` from ``v``."""
        return pt.exp(value - self.log_f_value)

    def log_jac_det(self, value: Any, *inputs: Any) -> Any:
        """Return ``log |d beta / d v|`` = ``log(beta)``."""
        return value - self.log_f_value


class ContributionSpread(ContributionAtReference):
    """``beta`` sampled as ``v = log(beta) + log(sd_t f_t)``, the log spread of its contribution.

    ``sd_t f_t`` is the standard deviation over the training rows of the channel's media
    curve (``beta = 1``): the data pin the size of the contribution's movements, ``beta *
    sd_t f_t``, while ``beta`` alone trades off against the curve's shape. ``log_f_rv`` and
    ``log_f_value`` are ``log sd_t f_t`` of the model's variables and of the sampler's values
    (:class:`ContributionAtReference`'s maps, with the spread for the curve's value); the
    Jacobian is ``log(beta)``.
    """

    name = "sd_contribution"


class ContributionSpreadOrReference(ContributionAtReference):
    """``beta`` sampled as the log spread of its contribution, or its log contribution at ``x_ref``.

    Per channel: ``v = log(beta) + log(sd_t f_t)`` (:class:`ContributionSpread`) where the
    channel's spend moves, ``v = log(beta) + log(f(x_ref))``
    (:class:`ContributionAtReference`, ``x_ref`` here the mean of the ``spend`` container)
    where it spends in a narrow band (:func:`narrow_spend`, decided on the cell's first
    replicate). ``log_f_rv`` and ``log_f_value`` hold, channel by channel, the
    chosen curve value of the model's variables and of the sampler's values; the Jacobian
    is ``log(beta)`` in both.
    """

    name = "sd_or_ref_contribution"


class MeanLevel(Transform):  # type: ignore[misc]  # pymc's Transform is untyped
    """The intercept sampled as ``level``, the mean of ``mu`` over the training rows.

    ``intercept = level - rest``, with ``rest`` the mean over the rows of every other term of
    ``mu`` (media contributions, trend, Fourier terms, controls): ``rest_rv`` of the model's
    variables (for the initial point), ``rest_value`` of the sampler's values (for the
    density). A shift by a function of the other coordinates: the Jacobian is 1.
    """

    name = "mean_level"

    def __init__(self, rest_rv: Any, rest_value: Any) -> None:
        self.rest_rv = rest_rv
        self.rest_value = rest_value

    def forward(self, value: Any, *inputs: Any) -> Any:
        """Return ``level`` from the intercept."""
        return value + self.rest_rv

    def backward(self, value: Any, *inputs: Any) -> Any:
        """Return the intercept from ``level``."""
        return value - self.rest_value

    def log_jac_det(self, value: Any, *inputs: Any) -> Any:
        """Return ``log |d intercept / d level|`` = 0."""
        return pt.zeros_like(value)


def _unbounded(name: str, spec: ModelSpec) -> bool:
    """Whether ``name``'s prior lives on the whole real line (PyMC gives it no transform)."""
    from pymc.distributions.transforms import _default_transform

    rv = _prior_dist(name, spec)
    return _default_transform(rv.owner.op, rv) is None


def _log_curve_sd(spec: ModelSpec, spend: Any, params: Mapping[str, Any]) -> Any:
    """Return ``log sd_t f_t`` per channel, ``f`` the media curve with ``beta = 1``, ``(C,)``.

    The standard deviation runs over the rows of the ``spend`` container (the training rows
    of the replicate being fitted, so one compiled model serves the cell); a channel whose
    curve is constant over the rows (no spend) gets ``log(1e-12)``, not ``-inf``.
    """
    curve = media_graph(spec, spend, dict(params, saturation_beta=pt.constant(1.0)))
    return pt.log(pt.maximum(curve.std(axis=0), 1e-12))


def _log_curve_at(spec: ModelSpec, params: Mapping[str, Any], x_ref: Any) -> Any:
    """Return ``log f(x_ref)`` of the model's saturation with ``params``, ``(C,)``.

    ``x_ref``: an array or a graph (the ``spend`` container's mean), ``(C,)``.
    """
    kind = spec.saturation.kind
    sat = {p: params[f"saturation_{p}"] for p in param_names("saturation", kind)}
    return pt.log(saturation(x_ref, kind, sat))


def _lifted_channels(spec: ModelSpec, data: ModelData, narrow: NDArray[np.bool_]) -> Any:
    """Return which channels spend in a narrow band and have a lift test, ``(C,)``."""
    out = np.zeros_like(narrow)
    if spec.lift_tests and data.lift is not None:
        out[np.unique(data.lift.channel_index)] = True
    return out & narrow


def _log_lift_at(
    spec: ModelSpec,
    params: Mapping[str, Any],
    channel_index: Any,
    x: Any,
    delta_x: Any,
    channels: int,
) -> Any:
    """Return per channel the mean over its lift tests of ``log |lift|`` at ``beta = 1``, ``(C,)``.

    ``lift`` is the model's steady-state lift of each test (:func:`lift_graph`), with the
    tests' spend read off the ``lift_x`` and ``lift_delta_x`` containers; a channel without
    a test gets 0 (never used: :func:`_lifted_channels` masks it out).
    """
    index = np.asarray(channel_index, dtype=np.int64)
    unit = lift_graph(spec, dict(params, saturation_beta=pt.constant(1.0)), index, x, delta_x)
    log_lift = pt.log(pt.maximum(pt.abs(unit), 1e-12))
    weights = np.zeros((channels, index.size))
    for c in range(channels):
        tests = index == c
        if tests.any():
            weights[c, tests] = 1.0 / tests.sum()
    return pt.dot(pt.as_tensor_variable(weights), log_lift)


@dataclass(frozen=True, kw_only=True)
class WorkbenchModel(MediaModel):
    """The built PyMC model of a cell, with its media function for estimands.

    ``train_periods``: the training rows of the cell (its ``trend_time`` runs 0 to 1 over
    them, on any replicate and on the whole series). ``geometry``: the coordinates the
    sampler moves in (:func:`resolve_geometry`'s answer, never ``"auto"``), which each fit
    record keeps: a run resumed after a geometry change holds fits of both.
    """

    model: pm.Model
    train_periods: int
    geometry: str = ""
    sampler_options: Mapping[str, object] = field(default_factory=dict)

    def set_data(self, data: ModelData) -> dict[str, Array]:
        """Return the data containers' new values for one replicate (shapes must match the cell)."""
        scaled = data.scaled()
        values = {"spend": scaled["spend"], "target": scaled["target"]}
        if self.spec.controls:
            values["controls"] = scaled["controls"]
        if self.spec.lift_tests:
            values |= {name: scaled[name] for name in LIFT_CONTAINERS}
        values |= time_terms(self.spec, len(data.dates), self.train_periods)
        return values


def build_workbench(
    spec: ModelSpec, data: ModelData, backend: str = ""
) -> WorkbenchModel | GeoWorkbenchModel:
    """Build the PyMC model for a cell from its first replicate's data.

    With ``[model.geo]`` the geo (hierarchical) model of a panel
    (:mod:`mmm_workbench.recover.models.geo`), whose ``auto`` geometry depends on the
    ``backend`` that fits it.
    """
    if spec.geo_level:
        return build_geo(spec, data, GEOMETRY, backend)
    periods = len(data.dates)
    time = time_terms(spec, periods, periods)
    coords = {
        "date": data.dates,
        "channel": list(data.channels),
        "control": list(data.control_names),
        "fourier": [
            f"{f}_{k}" for f in ("sin", "cos") for k in range(1, spec.seasonality_order + 1)
        ],
        "lift_test": np.arange(0 if data.lift is None else len(data.lift.x)),
    }
    per = "channel" if spec.pooling == "channel" else None
    scaled = data.scaled()
    params: dict[str, Any] = {}
    free: list[str] = []
    resolved = resolve_geometry(spec, scaled=scaled)
    geometry = resolved.removesuffix(LOW_RANK)  # the coordinates; the suffix is the mass matrix
    with pm.Model(coords=coords) as model:
        spend = pm.Data("spend", scaled["spend"], dims=("date", "channel"))
        target = pm.Data("target", scaled["target"], dims="date")
        reparameterize = geometry in ("data", "data+level")
        lift: dict[str, Any] = {}
        if spec.lift_tests:  # before beta, whose sd+lift coordinate reads them
            lift = {n: pm.Data(n, scaled[n], dims="lift_test") for n in LIFT_CONTAINERS}
        lift_at = lift.get("lift_x"), lift.get("lift_delta_x")
        n_ch = len(data.channels)
        x_ref = reference_spend(scaled["spend"])
        log_ref: Array = np.log(x_ref) if per else np.asarray(np.mean(np.log(x_ref)))
        values: dict[str, Any] = {}  # each parameter as a function of the sampler's values
        for role, transform in (("adstock", spec.adstock), ("saturation", spec.saturation)):
            for p in param_names(role, transform.kind):
                name = f"{role}_{p}"
                if p in transform.params:
                    params[name] = np.asarray(transform.params[p], dtype=float)  # or (C,)
                    values[name] = params[name]
                    continue
                prior = prior_for(name, spec)
                reparam: dict[str, Any] = {}
                scale = default_scale(name, prior)
                if (
                    geometry != "dgp"
                    and (spec.adstock.kind, name) == ("delayed", "adstock_theta")
                    and scale == "log"
                ):
                    reparam = {"transform": SoftplusShift(), "default_transform": None}
                if (
                    geometry in ("sd+lam", "sd+lift")
                    and (spec.saturation.kind, name) == ("logistic", "saturation_lam")
                    and scale == "log"
                ):  # the saturated side's wall: exponential in lam, not in log(lam)
                    reparam = {"transform": SoftplusShift(), "default_transform": None}
                if (
                    geometry in ("data", "data+level", "sd+hill1")
                    and (spec.saturation.kind, name) == ("hill", "saturation_kappa")
                    and scale is not None
                ):
                    slope = params["saturation_slope"], values["saturation_slope"]
                    offset = 1.0 if geometry == "sd+hill1" else 0.0
                    location = HillLocation(*slope, log_ref, scale == "logit", offset)
                    reparam = {"transform": location, "default_transform": None}
                params[name] = make_prior(name, prior, dims=per, **reparam)
                values[name] = _value(model, params[name])
                free.append(name)
        prior = prior_for("saturation_beta", spec)
        reparam = {}
        if reparameterize and default_scale("saturation_beta", prior) == "log":
            at_ref = ContributionAtReference(
                _log_curve_at(spec, params, x_ref), _log_curve_at(spec, values, x_ref)
            )
            reparam = {"transform": at_ref, "default_transform": None}
        if geometry.startswith("sd") and default_scale("saturation_beta", prior) == "log":
            spread = ContributionSpread(
                _log_curve_sd(spec, spend, params), _log_curve_sd(spec, spend, values)
            )
            narrow = narrow_spend(scaled["spend"])
            lifted = _lifted_channels(spec, data, narrow) if geometry == "sd+lift" else narrow[:0]
            logistic = geometry in ("sd+lam", "sd+lift") and spec.saturation.kind == "logistic"
            if logistic and narrow.any():
                # at the mean spend, read off the container like the spread (one compiled
                # model per cell); design-sweep's always-on mean is its median + 1%. Where
                # no channel is narrow the graph stays the spread's alone (half the compile)
                x_mean = spend.mean(axis=0)
                at_mean = _log_curve_at(spec, params, x_mean), _log_curve_at(spec, values, x_mean)
                if not narrow.all():
                    mask = pt.as_tensor_variable(narrow)
                    at_mean = (
                        pt.switch(mask, at_mean[0], spread.log_f_rv),
                        pt.switch(mask, at_mean[1], spread.log_f_value),
                    )
                if lifted.any():  # a narrow channel's lift test: beta at the lift it measures
                    assert data.lift is not None
                    at_lift = (
                        _log_lift_at(spec, params, data.lift.channel_index, *lift_at, n_ch),
                        _log_lift_at(spec, values, data.lift.channel_index, *lift_at, n_ch),
                    )
                    mask = pt.as_tensor_variable(lifted)
                    at_mean = (
                        pt.switch(mask, at_lift[0], at_mean[0]),
                        pt.switch(mask, at_lift[1], at_mean[1]),
                    )
                spread = ContributionSpreadOrReference(*at_mean)
            reparam = {"transform": spread, "default_transform": None}
        params["saturation_beta"] = make_prior("saturation_beta", prior, dims="channel", **reparam)
        values["saturation_beta"] = _value(model, params["saturation_beta"])
        free.append("saturation_beta")
        contribution = pm.Deterministic(
            "channel_contribution", media_graph(spec, spend, params), dims=("date", "channel")
        )
        # mu's terms besides the intercept, as (model variable, sampler value) graphs
        terms: list[tuple[Any, Any]] = [
            (contribution.sum(axis=1), media_graph(spec, spend, values).sum(axis=1))
        ]
        centre = (
            spec.intercept
            and geometry in ("level", "data+level", "sd", "sd+hill1", "sd+lam", "sd+lift")
            and _unbounded("intercept", spec)
        )
        intercept = None
        if spec.intercept and not centre:  # created where it always was: the same draws
            intercept = make_prior("intercept", prior_for("intercept", spec))
        if spec.trend:
            t = _time_data("trend_time", time, ("date",))
            slope = make_prior("trend_slope", prior_for("trend_slope", spec))
            terms.append((slope * t, _value(model, slope) * t))
        if spec.seasonality_order:
            fourier = _time_data("fourier_terms", time, ("date", "fourier"))
            gamma = make_prior("gamma_fourier", prior_for("gamma_fourier", spec), dims="fourier")
            terms.append((pt.dot(fourier, gamma), pt.dot(fourier, _value(model, gamma))))
        if spec.controls:
            controls = pm.Data("controls", scaled["controls"], dims=("date", "control"))
            gamma = make_prior("gamma_control", prior_for("gamma_control", spec), dims="control")
            terms.append((pt.dot(controls, gamma), pt.dot(controls, _value(model, gamma))))
        if centre:  # after the terms its transform reads
            level = MeanLevel(
                sum(term.mean() for term, _ in terms), sum(term.mean() for _, term in terms)
            )
            intercept = make_prior(
                "intercept",
                prior_for("intercept", spec),
                transform=level,
                default_transform=None,
            )
        mu = terms[0][0]  # the terms in the order the model always added them
        if intercept is not None:
            mu = mu + intercept
        for term, _ in terms[1:]:
            mu = mu + term
        mu = pm.Deterministic("mu", mu, dims="date")
        sigma = make_prior("sigma", prior_for("sigma", spec))
        if spec.likelihood == "student_t":
            nu = make_prior("nu", prior_for("nu", spec))
            pm.StudentT("y", nu=nu, mu=mu, sigma=sigma, observed=target, dims="date")
        else:
            pm.Normal("y", mu=mu, sigma=sigma, observed=target, dims="date")
        if spec.lift_tests:
            assert data.lift is not None
            estimated = pm.Deterministic(
                "lift_model",
                lift_graph(
                    spec, params, data.lift.channel_index, lift["lift_x"], lift["lift_delta_x"]
                ),
                dims="lift_test",
            )
            pm.Normal(
                "lift_measurements",
                mu=estimated,
                sigma=lift["lift_sigma"],
                observed=lift["lift_delta_y"],
                dims="lift_test",
            )

    media = compile_media(spec, tuple(free), per is None, len(data.channels), periods)
    return WorkbenchModel(
        spec=spec,
        model=model,
        free=tuple(free),
        media=media,
        train_periods=periods,
        geometry=resolved,
        sampler_options={"adaptation": "low_rank"} if resolved.endswith(LOW_RANK) else {},
    )
