# Effect queries on a fitted flow or a linear SEM. Both objects share these
# methods: the Python side answers with the same tidy table for both.

# effects() is stats' generic, re-exported so that effects(fit, ...) works
# without attaching stats first; it is documented with the methods below (so
# that ?effects finds medflow's page, not only stats').
#' @importFrom stats effects
#' @rawNamespace export(effects)
NULL

#' Total, natural and interventional effects
#'
#' Estimates the total effect of `treatment` on `outcome` and, for each
#' mediator (or set of mediators), the natural direct and indirect effects
#' and their randomized interventional analogues, for the contrast
#' `treatment = a` versus `treatment = a_ref`.
#'
#' Natural effects through a mediator with an exposure-induced
#' mediator-outcome confounder (in Blau-Duncan, `U` for the mediator `W`) are
#' not identified from the observed distribution; the flow still computes
#' them under its monotone-noise assumption and marks them with
#' `identified = FALSE`. The interventional analogues are identified.
#'
#' @param object A fitted flow ([medflow()]) or linear SEM ([linear_sem()]).
#' @param treatment,outcome Names of the treatment and outcome variables.
#' @param mediators Optional character vector of mediators; each gets its own
#'   effects. A joint set is written `"U+W"`.
#' @param a,a_ref Active and reference values of the treatment. By default
#'   1 and 0 for a binary treatment, else the observed values nearest its 75th
#'   and 25th percentiles (the same rule for the flow, the linear SEM and the
#'   command line).
#' @param interventional Also estimate the interventional (randomized)
#'   direct and indirect effects.
#' @param n_boot Number of bootstrap refits for standard errors and
#'   percentile intervals (0 for none). Each refit repeats the fit's procedure
#'   on its resample, from scratch, with fewer ensemble members than the fit
#'   (one, or two below 5,000 rows); the intervals use the replicates as they
#'   are, so they also carry the optimiser noise this adds (a margin that
#'   brought pooled coverage close to nominal in medflow's simulation study;
#'   `boot_options = list(members = 5)` in `...` repeats the fit exactly).
#' @param level Confidence level of the intervals (default 0.95, as in lavaan).
#' @param seed Seed (a whole number); the same seed gives the same numbers.
#' @param ... Further named arguments passed to the Python method. Conditional
#'   effects: `where = "V >= 4"` averages over the observed units that satisfy
#'   the condition; `by = "V"` gives the effects within each observed value of
#'   the pre-treatment variable `V`; both also work for a [linear_sem()] fitted
#'   to data, where they change the units counted (`n`), not the estimates
#'   (a linear SEM gives every unit the same effects). (`at =`, which set variables after
#'   abduction and so gave an effect under an intervention rather than a
#'   conditional effect, is no longer accepted.)
#'   `verbose = TRUE` shows a progress bar of the bootstrap refits (only
#'   on a terminal or in an interactive session, never in a log file).
#' @return A `medflow_effects` object: a data.frame with the columns in
#'   [effect_columns], one row per estimand, with `print()`, `summary()`,
#'   `plot()`, `coef()`, `confint()` and `as.data.frame()` methods.
#' @seealso [path_effects()], [decompose_effect()], [compare()]
#' @aliases effects
#' @examples
#' \dontrun{
#' fit <- medflow("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", blau_duncan, epochs = 50)
#' eff <- effects(fit, treatment = "X", outcome = "Y", mediators = c("W", "U"))
#' summary(eff)
#' }
#' @export
effects.medflow_fit <- function(object, treatment, outcome, mediators = NULL, a = NULL,
                                a_ref = NULL, interventional = TRUE, n_boot = 0, level = 0.95,
                                seed = 0, ...) {
  run_effects(object, "effects", treatment, outcome, a, a_ref, n_boot, level, seed, list(...),
              extra = list(mediators = check_mediators(mediators, object),
                           interventional = check_flag(interventional, "interventional")))
}

#' @rdname effects.medflow_fit
#' @export
effects.medflow_sem <- effects.medflow_fit

#' Path-specific effects
#'
#' The effect of `treatment` on `outcome` transmitted along a set of directed
#' paths, the other paths held at the reference value. Whether the effect is
#' identified (no recanting witness) is reported in the `identified` and
#' `witness` columns.
#'
#' @inheritParams effects.medflow_fit
#' @param paths Character vector of directed paths, each written as
#'   `"X -> W -> Y"`.
#' @return A `medflow_effects` object (one row, label `"PSE: ..."`).
#' @examples
#' \dontrun{
#' path_effects(fit, "X", "Y", paths = c("X -> W -> Y", "X -> U -> W -> Y"))
#' }
#' @export
path_effects <- function(object, ...) UseMethod("path_effects")

#' @rdname path_effects
#' @export
path_effects.medflow_fit <- function(object, treatment, outcome, paths, a = NULL, a_ref = NULL,
                                     n_boot = 0, level = 0.95, seed = 0, ...) {
  run_effects(object, "path_effects", treatment, outcome, a, a_ref, n_boot, level, seed, list(...),
              extra = list(paths = check_paths(paths, treatment, outcome, object)))
}

#' @rdname path_effects
#' @export
path_effects.medflow_sem <- path_effects.medflow_fit

#' Sequential decomposition of a total effect
#'
#' Splits the total effect into parts that add up to it: for mediators
#' `order = c("U", "W")` the part through `U`, then the part through `W` but
#' not `U`, then the rest (`"PART direct"`). (Named so as not to mask
#' [stats::decompose()], the decomposition of a time series.)
#'
#' @inheritParams effects.medflow_fit
#' @param x A fitted flow ([medflow()]) or linear SEM ([linear_sem()]).
#' @param order Character vector of mediators in the order of the
#'   decomposition.
#' @return A `medflow_effects` object with rows `"PART via ..."` and
#'   `"PART direct"` (and `"TE"`).
#' @examples
#' \dontrun{
#' decompose_effect(fit, "X", "Y", order = c("U", "W"))
#' }
#' @export
decompose_effect <- function(x, ...) UseMethod("decompose_effect")

#' @rdname decompose_effect
#' @export
decompose_effect.medflow_fit <- function(x, treatment, outcome, order, a = NULL, a_ref = NULL,
                                         n_boot = 0, level = 0.95, seed = 0, ...) {
  order <- check_mediators(order, x, arg = "order")
  if (is.null(order)) abort("order = must name at least one mediator.")
  check_effect_args(x$variables, treatment, outcome, NULL, a, a_ref, n_boot, level, seed)
  if (any(order %in% c(treatment, outcome))) {
    abort("order = must not contain the treatment or the outcome.")
  }
  run_effects(x, "decompose", treatment, outcome, a, a_ref, n_boot, level, seed, list(...),
              extra = list(order = order), what = "x")
}

#' @rdname decompose_effect
#' @export
decompose_effect.medflow_sem <- decompose_effect.medflow_fit

#' Controlled direct effect
#'
#' The effect of `treatment` on `outcome` with the mediators in `m` held fixed
#' by intervention at the given values, `E[Y(a, m) - Y(a_ref, m)]`: the
#' treatment is set to `a` or `a_ref` and every other variable responds to
#' it. The effect runs along the paths that avoid the held mediators. It is
#' identified under no unmeasured treatment-outcome and mediator-outcome
#' confounding, as the model's graph states, without cross-world
#' assumptions, so its `identified` column is `TRUE` even where the natural
#' effects are not. With interactions (the flow) it depends on `m`; in a
#' linear SEM it does not.
#'
#' @inheritParams effects.medflow_fit
#' @param m Named numeric vector of held mediator values, e.g. `c(W = 30)`.
#' @return A `medflow_effects` object with one row, estimand `"CDE"`,
#'   labelled `"CDE at W=30"`: the same table as [effects()], with bootstrap
#'   intervals on a flow (`n_boot > 0`) and delta-method (or bootstrap)
#'   intervals on a linear SEM.
#' @seealso [effects()], [compare()]
#' @examples
#' \dontrun{
#' sem <- linear_sem("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", cor = blau_duncan_cor)
#' cde(sem, "X", "Y", m = c(W = 0), a = 1, a_ref = 0)   # = NDE via W: no interactions
#' fit <- medflow("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", blau_duncan, epochs = 50)
#' cde(fit, "X", "Y", m = c(W = 30), n_boot = 20)
#' }
#' @export
cde <- function(object, ...) UseMethod("cde")

#' @rdname cde
#' @export
cde.medflow_fit <- function(object, treatment, outcome, m, a = NULL, a_ref = NULL, n_boot = 0,
                            level = 0.95, seed = 0, ...) {
  if (!is.numeric(m) || !length(m) || is.null(names(m)) || any(!nzchar(names(m))) ||
      anyDuplicated(names(m)) || any(!is.finite(m))) {
    abort("m = must be a named numeric vector of held mediator values, e.g. m = c(W = 30).")
  }
  check_mediators(names(m), object, arg = "m")
  if (any(names(m) %in% c(treatment, outcome))) {
    abort("m = must not hold the treatment or the outcome.")
  }
  run_effects(object, "cde", treatment, outcome, a, a_ref, n_boot, level, seed, list(...),
              extra = list(m = as.list(stats::setNames(as.numeric(m), names(m)))))
}

#' @rdname cde
#' @export
cde.medflow_sem <- cde.medflow_fit

#' Dose-response curve
#'
#' The mean potential outcome `E[outcome(treatment = a)]` over a grid of
#' treatment values.
#'
#' @inheritParams effects.medflow_fit
#' @param object A fitted flow ([medflow()]). A linear SEM's dose-response is
#'   the straight line through the means with slope the total effect of one
#'   unit, so [linear_sem()] objects are refused with a pointer to [effects()].
#' @param grid Numeric vector of treatment values; `NULL` uses a grid over the
#'   observed range.
#' @param ... Further named arguments passed to the Python method:
#'   `extrapolate = TRUE` allows grid values outside the observed range,
#'   `n_mc =` averages over draws from the fitted model instead of the observed
#'   units, `data =` over other units, `verbose = TRUE` shows the bootstrap's
#'   progress bar. (The curve is over all units; `where =` and `by =` are for
#'   [effects()].)
#' @return A data.frame with one row per grid value: the treatment value `a`,
#'   the estimate (outcome units and SD units) and, only with `n_boot > 0`,
#'   its standard error and interval.
#' @examples
#' \dontrun{
#' dose_response(fit, "X", "Y", grid = c(10, 30, 50, 70))
#' }
#' @export
dose_response <- function(object, ...) UseMethod("dose_response")

#' @rdname dose_response
#' @export
dose_response.medflow_fit <- function(object, treatment, outcome, grid = NULL, n_boot = 0,
                                      level = 0.95, seed = 0, ...) {
  check_effect_args(object$variables, treatment, outcome, NULL, NULL, NULL, n_boot, level, seed)
  if (!is.null(grid) && (!is.numeric(grid) || !length(grid) || anyNA(grid) || any(!is.finite(grid)))) {
    abort("grid = must be a numeric vector of treatment values without missing values.")
  }
  dots <- check_dots_named(list(...), "dose_response")
  if (is.null(dots$verbose)) dots$verbose <- FALSE
  check_flag(dots$verbose, "verbose")
  py <- live_py(object)
  args <- c(py_args(treatment = treatment, outcome = outcome,
                    grid = if (!is.null(grid)) py_list(as.numeric(grid)),
                    n_boot = as.integer(n_boot), level = level, seed = as.integer(seed)), dots)
  out <- py_frame_to_r(py_call_named(py, "dose_response", args)$reset_index(drop = TRUE))
  drop_empty_interval_columns(out)
}

#' @rdname dose_response
#' @export
dose_response.medflow_sem <- function(object, ...) {
  abort("dose_response() needs a fitted flow (medflow()). In a linear SEM E[Y(a)] is a straight ",
        "line whose slope is the total effect of one unit: effects(sem, treatment, outcome, a = 1, ",
        "a_ref = 0) gives it with its interval.")
}

# Without a bootstrap the interval columns are all NA: leave them out.
drop_empty_interval_columns <- function(x) {
  cols <- grep("^(std_error|ci_lower|ci_upper|se|lower|upper)(_sd)?$", names(x), value = TRUE)
  empty <- cols[vapply(x[cols], function(v) all(is.na(v)), logical(1))]
  x[setdiff(names(x), empty)]
}

# ---------------------------------------------------------------- internals

check_mediators <- function(mediators, object, arg = "mediators") {
  if (is.null(mediators)) return(NULL)
  check_names_vector(mediators, arg)
  parts <- unique(trimws(unlist(strsplit(mediators, "+", fixed = TRUE))))
  unknown <- setdiff(parts, object$variables)
  if (length(unknown)) {
    abort(arg, " = names ", paste(unknown, collapse = ", "),
          ", which are not variables of the model (", paste(object$variables, collapse = ", "), ").")
  }
  mediators
}

check_paths <- function(paths, treatment, outcome, object) {
  if (!is.character(paths) || !length(paths) || anyNA(paths)) {
    abort("paths = must be a character vector of paths written as \"X -> W -> Y\".")
  }
  for (p in paths) {
    nodes <- trimws(strsplit(p, "->", fixed = TRUE)[[1]])
    if (length(nodes) < 2L || any(!nzchar(nodes))) {
      abort("paths = : cannot read the path '", p, "'; write it as \"X -> W -> Y\".")
    }
    unknown <- setdiff(nodes, object$variables)
    if (length(unknown)) {
      abort("paths = : the path '", p, "' has ", paste(unknown, collapse = ", "),
            ", which ", if (length(unknown) > 1L) "are" else "is", " not a variable of the model.")
    }
    if (is.character(treatment) && is.character(outcome) &&
        (nodes[1] != treatment || nodes[length(nodes)] != outcome)) {
      abort("paths = : the path '", p, "' must start at the treatment (", treatment,
            ") and end at the outcome (", outcome, ").")
    }
  }
  paths
}

# Further options (in ...) that the linear SEM's queries take, by Python method.
sem_options <- c(list(distributional_effects = "n_sim"),
                 sapply(c("effects", "path_effects", "decompose", "cde"),
                        function(m) c("se", "where", "by"), simplify = FALSE))

run_effects <- function(object, method, treatment, outcome, a, a_ref, n_boot, level, seed,
                        dots, extra = list(), what = "object") {
  force(extra)
  check_effect_args(object$variables, treatment, outcome, NULL, a, a_ref, n_boot, level, seed)
  check_dots_named(dots, method)
  if (inherits(object, "medflow_sem") && method %in% names(sem_options)) {
    # the linear SEM's further options (the flow's are checked by the Python package)
    allowed <- sem_options[[method]]
    unknown <- setdiff(names(dots), allowed)
    if (length(unknown)) {
      abort(if (method == "decompose") "decompose_effect" else method, "() on a linear SEM has no option ",
            paste0(unknown, " =", collapse = ", "), "; its further options are ",
            paste0(allowed, " =", collapse = ", "), ".")
    }
  }
  if (!is.null(extra$mediators) &&
      any(trimws(unlist(strsplit(extra$mediators, "+", fixed = TRUE))) %in% c(treatment, outcome))) {
    abort("mediators = must not contain the treatment or the outcome.")
  }
  if (inherits(object, "medflow_fit")) {
    if (is.null(dots$verbose)) dots$verbose <- FALSE  # no bootstrap bar unless asked for
    check_flag(dots$verbose, "verbose")
  }
  py <- live_py(object, what)
  for (nm in intersect(names(extra), c("mediators", "order"))) {
    extra[[nm]] <- py_mediators(extra[[nm]])
  }
  if (!is.null(extra$paths)) extra$paths <- py_list(extra$paths)
  args <- c(list(treatment = treatment, outcome = outcome),
            extra[!vapply(extra, is.null, logical(1))],
            py_args(a = if (!is.null(a)) as.numeric(a), a_ref = if (!is.null(a_ref)) as.numeric(a_ref),
                    n_boot = as.integer(n_boot), level = as.numeric(level), seed = as.integer(seed)),
            dots)
  res <- py_call_named(py, method, args)
  effects_from_py(res)
}

# Mediators for Python: a list whose joint sets ("U+W") are tuples of names.
py_mediators <- function(mediators) {
  if (is.null(mediators)) return(NULL)
  reticulate::r_to_py(lapply(mediators, function(m) {
    parts <- trimws(strsplit(m, "+", fixed = TRUE)[[1]])
    if (length(parts) == 1L) parts else reticulate::tuple(as.list(parts))
  }))
}

# A Python EffectsResult as a medflow_effects data.frame (plain R values only).
effects_from_py <- function(res) {
  table <- py_frame_to_r(res$to_frame())
  notes <- r_message(as.character(unlist(py_value(res$notes))))
  draws <- if (reticulate::py_has_attr(res, "draws") &&
               !inherits(res$draws, "python.builtin.NoneType")) {
    py_frame_to_r(res$draws$reset_index(drop = TRUE))
  }
  as_medflow_effects(table, notes = notes, draws = draws)
}
