# Fair inference on outcomes (Nabi & Shpitser 2018): a thin wrapper around
# Python's medflow.fairness.fair() and medflow.fairness.predict(). Everything printable
# is copied into plain R values; the constrained model itself stays in Python.

#' Fair inference on outcomes: refit with a path-specific effect within bounds
#'
#' Discrimination by a sensitive variable (race, sex) on an outcome is taken
#' to be its effect along "disallowed" causal paths (Nabi and Shpitser, 2018).
#' `fair()` refits the flow `object` by maximum likelihood under the
#' constraint that this path-specific effect lies within `bounds`: the model
#' closest to the data (in Kullback-Leibler divergence) in which the
#' discrimination is at most what the bounds allow. It is solved by an
#' augmented Lagrangian over the flows of the outcome and of the nodes on the
#' paths from the sensitive variable to the outcome; the other nodes keep their
#' fitted flows. A path-specific effect that is not identified (a recanting
#' witness) is refused with the reason.
#'
#' @param object A fitted flow from [medflow()].
#' @param sensitive Name of the sensitive variable (e.g. `"race"`).
#' @param outcome Name of the outcome.
#' @param paths Character vector of disallowed paths such as
#'   `"race -> two_year_recid"`; or give `mediators`.
#' @param mediators Instead of `paths`: the allowed mediators; every path
#'   that avoids them is disallowed (the natural direct effect with respect to
#'   them).
#' @param bounds Two numbers, the lower and upper bound of the effect.
#' @param scale `"difference"` (of the two counterfactual means, in outcome
#'   units), `"ratio"` or `"odds ratio"` (a 0/1 outcome).
#' @param keep Variables that [predict()] takes from a new row; by default
#'   those whose flows the constraint leaves unchanged.
#' @param a,a_ref Active and reference values of the sensitive variable
#'   (default 1 and 0 for a binary one).
#' @param seed Seed (a whole number) of the abduction of discrete variables.
#' @param ... Further named settings for the Python function: `max_rounds`,
#'   `steps`, `tol`, `verbose`.
#' @return An object of class `medflow_fair`: a list with `fit` (the
#'   constrained model, a `medflow_fit` usable with [effects()] and
#'   [path_effects()]), `pse_before`, `pse_after` (the effect before and after),
#'   `loglik_before`, `loglik_after`, `loglik_lost` (nats, on the rows named
#'   by `loglik_rows`: `"held-out"`, each row scored by the ensemble member
#'   that held it out, against the unconstrained optimum reached by the same
#'   optimiser from the same start, so a constraint that already holds costs
#'   0), `loglik_lost_train` (the same on the training rows), `satisfied`
#'   (whether the constraint holds at the solution), `paths`, `bounds`,
#'   `scale`, `keep` and `table` (a data.frame of the two rows). It has
#'   `print()`, `as.data.frame()` and `predict()` methods.
#' @references Nabi, R. and Shpitser, I. (2018). Fair inference on outcomes.
#'   AAAI.
#' @seealso [predict.medflow_fair()]
#' @examples
#' \dontrun{
#' compas <- read.csv(system.file("extdata", "compas_two_year.csv", package = "medflow"))
#' fit <- medflow("priors_count ~ race + age + sex;
#'                 two_year_recid ~ race + priors_count + age + sex", compas)
#' fr <- fair(fit, "race", "two_year_recid", mediators = "priors_count",
#'            bounds = c(0.95, 1.05), scale = "odds ratio")
#' fr
#' head(predict(fr, compas))
#' }
#' @export
fair <- function(object, sensitive, outcome, paths = NULL, mediators = NULL, bounds,
                 scale = c("difference", "ratio", "odds ratio"), keep = NULL, a = NULL,
                 a_ref = NULL, seed = 0, ...) {
  if (!inherits(object, "medflow_fit")) {
    abort("object = must be a fitted flow from medflow(), not ",
          if (is.object(object)) sprintf("an object of class %s", class(object)[1]) else describe(object),
          ".")
  }
  vars <- object$variables
  check_variable(sensitive, "sensitive", vars)
  check_variable(outcome, "outcome", vars)
  if (identical(sensitive, outcome)) abort("sensitive = and outcome = must be different variables.")
  if (is.null(paths) == is.null(mediators)) {
    abort("Give the disallowed paths as paths = (e.g. \"race -> recid\") or the allowed mediators ",
          "as mediators =, not both and not neither.")
  }
  if (!is.null(paths) && (!is.character(paths) || !length(paths) || anyNA(paths))) {
    abort("paths = must be a character vector of paths such as \"A -> Y\", not ", describe(paths), ".")
  }
  check_names_vector(mediators, "mediators")
  if (!is.numeric(bounds) || length(bounds) != 2L || anyNA(bounds) || any(!is.finite(bounds))) {
    abort("bounds = must be two finite numbers (lower, upper), not ", describe(bounds), ".")
  }
  scale <- if (is.character(scale) && length(scale) == 1L) scale else scale[1]
  if (!is.character(scale) || !scale %in% c("difference", "ratio", "odds ratio")) {
    abort("scale = must be \"difference\", \"ratio\" or \"odds ratio\", not ", describe(scale), ".")
  }
  if (!is.null(keep) && (!is.character(keep) || anyNA(keep))) {
    abort("keep = must be a character vector of variable names, not ", describe(keep), ".")
  }
  check_number(a, "a", null_ok = TRUE)
  check_number(a_ref, "a_ref", null_ok = TRUE)
  check_count(seed, "seed")
  dots <- check_dots_named(list(...), "fair")
  for (nm in intersect(names(dots), c("max_rounds", "steps"))) dots[[nm]] <- check_count(dots[[nm]], nm, min = 1)
  py <- live_py(object)
  module <- reticulate::import("medflow.fairness", convert = FALSE)
  args <- c(list(fit = py, sensitive = sensitive, outcome = outcome),
            py_args(paths = py_list(paths), mediators = py_list(mediators),
                    bounds = reticulate::tuple(as.numeric(bounds[1]), as.numeric(bounds[2])),
                    scale = scale, keep = if (!is.null(keep)) py_list(keep),
                    a = if (!is.null(a)) as.numeric(a), a_ref = if (!is.null(a_ref)) as.numeric(a_ref),
                    seed = as.integer(seed)),
            dots)
  res <- py_call_named(module, "fair", args)
  table <- py_frame_to_r(res$to_frame(), index = "quantity")
  structure(list(
    py = res,
    fit = new_medflow_fit(res$fit),
    sensitive = sensitive, outcome = outcome,
    paths = vapply(py_value(res$paths), function(p) paste(unlist(p), collapse = " -> "), character(1)),
    bounds = as.numeric(bounds), scale = scale,
    keep = as.character(unlist(py_value(res$keep))),
    pse_before = py_value(res$pse_before), pse_after = py_value(res$pse_after),
    loglik_before = py_value(res$loglik_before), loglik_after = py_value(res$loglik_after),
    loglik_lost = py_value(res$loglik_lost), loglik_rows = py_value(res$loglik_rows),
    loglik_lost_train = py_value(res$loglik_lost_train), satisfied = py_value(res$satisfied),
    table = table, text = py_value(res$summary())
  ), class = "medflow_fair")
}

#' @export
print.medflow_fair <- function(x, ...) {
  cat(x$text, "\n", sep = "")
  invisible(x)
}

#' @export
as.data.frame.medflow_fair <- function(x, ...) x$table

#' Predict outcomes from a fitted or a fair flow
#'
#' For a fair fit from [fair()]: `E*[Y | keep]` for each row of `newdata`
#' under the constrained model, the variables outside `keep` averaged over
#' under that model (Nabi and Shpitser, 2018). For a fitted flow: `E[Y | keep]`
#' with `keep` defaulting to the outcome's parents. A 0/1 outcome gives
#' probabilities.
#'
#' @param object A `medflow_fair` object from [fair()] (for a fitted flow's
#'   `E[Y | parents]` see [predict.medflow_fit()]).
#' @param newdata A data.frame with (at least) the columns in `keep`.
#' @param keep Variables taken from the rows (default: see above).
#' @param n_samples Draws of the other variables per row.
#' @param seed Seed (a whole number) of the draws.
#' @param ... Unused.
#' @return A numeric vector, one value per row of `newdata`.
#' @importFrom stats predict
#' @examples
#' \dontrun{
#' head(predict(fr, compas))                       # fair world, E*[Y | race, age, sex]
#' head(predict(fit, compas, "two_year_recid"))    # E[Y | its parents], predict.medflow_fit()
#' }
#' @export
predict.medflow_fair <- function(object, newdata, keep = NULL, n_samples = 200, seed = 0, ...) {
  keep <- if (is.null(keep)) object$keep else keep
  predict_py(object$py$fit, object$fit$variables, newdata, object$outcome, keep, n_samples, seed)
}

predict_py <- function(py, vars, newdata, outcome, keep, n_samples, seed) {
  if (!is.data.frame(newdata)) abort("newdata = must be a data.frame, not ", describe(newdata), ".")
  if (!is.null(keep) && (!is.character(keep) || anyNA(keep))) {
    abort("keep = must be a character vector of variable names, not ", describe(keep), ".")
  }
  cols <- if (is.null(keep)) intersect(vars, names(newdata)) else keep
  absent <- setdiff(cols, names(newdata))
  if (length(absent)) {
    abort("newdata = lacks the column(s) ", paste(absent, collapse = ", "), " named in keep =.")
  }
  n_samples <- check_count(n_samples, "n_samples", min = 1)
  seed <- check_count(seed, "seed")
  module <- reticulate::import("medflow.fairness", convert = FALSE)
  args <- c(list(fit = py, new_data = r_frame_to_py(newdata, cols), outcome = outcome),
            py_args(keep = if (!is.null(keep)) py_list(keep), n_samples = n_samples, seed = seed))
  out <- py_call_named(module, "predict", args)
  as.numeric(unlist(py_value(out$tolist())))
}
