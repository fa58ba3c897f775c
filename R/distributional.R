# Distributional effects and counterfactual mobility tables: thin wrappers
# around Python's medflow.distributional. Results are plain R objects.

#' Quantile and threshold effects
#'
#' Differences of quantiles of potential-outcome distributions: for the
#' contrast `treatment = a` versus `a_ref`, the total effect at quantile `q`
#' is `Q_q(Y(a)) - Q_q(Y(a_ref))`, the natural direct effect
#' `Q_q(Y(a, M(a_ref))) - Q_q(Y(a_ref))` and the natural indirect effect
#' `Q_q(Y(a)) - Q_q(Y(a, M(a_ref)))`, with their interventional analogues.
#' They compare where the person at the `q`-th quantile of one world stands
#' with where the person at the `q`-th quantile of the other world stands
#' (not quantiles of person-level effects). With `threshold`, the rows
#' `P(Y > c)` contrast the shares above `c`. Identification is reported as
#' for the effects on means ([effects()]).
#'
#' For a fitted flow the distributions are those of the abducted units (an
#' ensemble's members pooled). For a linear SEM they are simulated from the
#' fitted Gaussian SEM: without interactions every potential outcome is a
#' shift of every other, so its quantile effects equal its mean effects.
#'
#' @inheritParams effects.medflow_fit
#' @param quantiles Numeric vector of quantile levels strictly between 0 and 1.
#' @param threshold Optional numeric vector of outcome values `c` for the
#'   contrasts of `P(outcome > c)`.
#' @param means Also report the effects on the means (rows with `quantile`
#'   `NA`).
#' @param n_boot Number of bootstrap refits of the flow for standard errors
#'   and percentile intervals (0 for none). The linear SEM's distributional
#'   effects have no intervals (`n_boot` must be 0).
#' @param ... Further named arguments passed to the Python function (e.g.
#'   `n_sim` for the linear SEM's number of simulated units, `verbose` for a
#'   flow).
#' @return A `medflow_distributional` object, which is also a
#'   `medflow_effects` table (columns [effect_columns]); quantile rows are
#'   labelled `"TE [q=0.5]"` and carry the level in the column `quantile`,
#'   threshold rows `"TE [P(Y > 40)]"` (differences of probabilities; their
#'   `_sd` columns repeat them). `plot()` draws the effects against `q`.
#' @seealso [mobility_table()], [effects()], [compare()]
#' @examples
#' \dontrun{
#' fit <- medflow("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", blau_duncan)
#' q <- distributional_effects(fit, "X", "Y", mediators = c("W", "U"))
#' q
#' plot(q)
#' sem <- linear_sem("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", data = blau_duncan)
#' compare(q, distributional_effects(sem, "X", "Y", mediators = c("W", "U")))
#' }
#' @export
distributional_effects <- function(object, ...) UseMethod("distributional_effects")

#' @rdname distributional_effects
#' @export
distributional_effects.medflow_fit <- function(object, treatment, outcome, mediators = NULL,
                                               quantiles = c(0.1, 0.25, 0.5, 0.75, 0.9),
                                               threshold = NULL, means = TRUE, a = NULL, a_ref = NULL,
                                               interventional = TRUE, n_boot = 0, level = 0.95,
                                               seed = 0, ...) {
  check_quantiles(quantiles)
  if (!is.null(threshold) &&
      (!is.numeric(threshold) || !length(threshold) || anyNA(threshold) || any(!is.finite(threshold)))) {
    abort("threshold = must be a numeric vector of finite outcome values, not ", describe(threshold), ".")
  }
  check_flag(means, "means")
  if (!length(quantiles) && is.null(threshold) && !means) {
    abort("Nothing to estimate: give quantiles =, threshold = or means = TRUE.")
  }
  if (inherits(object, "medflow_sem") && !identical(as.numeric(n_boot), 0)) {
    abort("n_boot = must be 0 for a linear SEM: its distributional effects are simulated from the ",
          "fitted model without intervals.")
  }
  dots <- list(...)
  if (!is.null(dots$n_sim)) dots$n_sim <- check_count(dots$n_sim, "n_sim", min = 100)
  res <- run_effects(object, "distributional_effects", treatment, outcome, a, a_ref, n_boot, level, seed,
                     dots, extra = list(mediators = check_mediators(mediators, object),
                                        interventional = check_flag(interventional, "interventional"),
                                        quantiles = py_list(as.numeric(quantiles)),
                                        threshold = if (!is.null(threshold)) py_list(as.numeric(threshold)),
                                        means = means))
  class(res) <- c("medflow_distributional", class(res))
  res
}

#' @rdname distributional_effects
#' @export
distributional_effects.medflow_sem <- distributional_effects.medflow_fit

check_quantiles <- function(quantiles) {
  if (is.null(quantiles)) return(invisible(NULL))
  if (!is.numeric(quantiles) || anyNA(quantiles) || any(quantiles <= 0 | quantiles >= 1)) {
    abort("quantiles = must be numbers strictly between 0 and 1, not ", describe(quantiles), ".")
  }
  if (anyDuplicated(quantiles)) {
    abort("quantiles = has the value ", quantiles[anyDuplicated(quantiles)], " twice.")
  }
  invisible(quantiles)
}

#' Plot quantile effects
#'
#' Each effect (total, natural and interventional direct and indirect)
#' against the quantile level `q`, with its interval when there is one.
#' Needs the package ggplot2.
#'
#' @param x A `medflow_distributional` object from [distributional_effects()]
#'   (several can be combined first with `rbind()`; the method column tells
#'   them apart).
#' @param scale `"sd"` (standard deviations of the outcome) or `"raw"`.
#' @param effects Optional character vector of the effects to draw, such as
#'   `c("TE", "NIE via W")`.
#' @param ... Unused.
#' @return A ggplot object.
#' @examples
#' \dontrun{
#' plot(distributional_effects(fit, "X", "Y", mediators = "W"))
#' }
#' @export
plot.medflow_distributional <- function(x, scale = c("sd", "raw"), effects = NULL, ...) {
  scale <- match.arg(scale)
  if (!requireNamespace("ggplot2", quietly = TRUE)) {
    abort("plot() needs the package ggplot2; install it with install.packages(\"ggplot2\").")
  }
  sfx <- scale_suffix(scale)
  q <- x[!is.na(x$quantile), , drop = FALSE]
  if (!nrow(q)) abort("x = has no quantile rows to plot.")
  long <- data.frame(effect = sub(" \\[q=[^]]*\\]$", "", q$label), quantile = q$quantile,
                     estimate = q[[paste0("estimate", sfx)]], lower = q[[paste0("ci_lower", sfx)]],
                     upper = q[[paste0("ci_upper", sfx)]], method = q$method, stringsAsFactors = FALSE)
  if (!is.null(effects)) {
    check_names_vector(effects, "effects")
    absent <- setdiff(effects, long$effect)
    if (length(absent)) {
      abort("effects = names ", paste(absent, collapse = ", "), ", which x has no quantile rows for ",
            "(it has ", paste(unique(long$effect), collapse = ", "), ").")
    }
    long <- long[long$effect %in% effects, , drop = FALSE]
  }
  long$effect <- factor(long$effect, levels = unique(long$effect))
  aes <- ggplot2::aes
  .data <- ggplot2::.data
  p <- ggplot2::ggplot(long, aes(x = .data$quantile, y = .data$estimate, colour = .data$effect,
                                 linetype = .data$method)) +
    ggplot2::geom_hline(yintercept = 0, colour = "grey60")
  if (any(!is.na(long$lower))) {
    p <- p + ggplot2::geom_ribbon(aes(ymin = .data$lower, ymax = .data$upper, fill = .data$effect),
                                  alpha = 0.15, colour = NA, na.rm = TRUE, show.legend = FALSE)
  }
  p + ggplot2::geom_line() + ggplot2::geom_point(size = 1.5) +
    ggplot2::labs(x = "quantile q of the potential-outcome distributions",
                  y = sprintf("Q_q(active) - Q_q(reference)%s",
                              if (scale == "sd") " (SD of outcome)" else ""),
                  colour = "effect", linetype = "method") +
    ggplot2::theme_minimal()
}

#' Observed and counterfactual mobility tables
#'
#' Cross-tabulates an origin (such as father's occupation) and a destination
#' (son's occupation) in quantile bins: `P(destination bin | origin bin)`,
#' rows summing to 1, origin bins cut at the quantiles of the origin and
#' destination bins at those of the observed destination. With `mediators`
#' and `a_ref`, also the counterfactual table of the world in which each
#' person's mediators take the values they would have had with
#' `origin = a_ref`, while every other path carries the person's own origin
#' (and his own noise): for Blau and Duncan, how mobile sons would have been
#' had each son's education been what it would have been had his father been
#' at the 25th percentile of occupational status. Beside the tables:
#' immobility (the share of persons in the same bin as their origin), the
#' Shorrocks index `(k - trace) / (k - 1)` (0: no mobility, 1: origin does
#' not matter) and Spearman's rank correlation of origin and destination.
#'
#' For a linear SEM both tables are simulated from the fitted Gaussian SEM
#' (its "observed" table is the model's factual world), with the bins of the
#' data.
#'
#' @param object A fitted flow ([medflow()]) or linear SEM ([linear_sem()]).
#' @param origin,destination Names of the origin and destination variables.
#' @param bins Number of quantile bins of each (at least 2).
#' @param mediators Optional mediator, or mediators held jointly (a character
#'   vector), for the counterfactual table; give `a_ref` with it.
#' @param a_ref The origin value under which the mediators are taken.
#' @param seed Seed (a whole number).
#' @param ... Further named arguments passed to the Python function (e.g.
#'   `n_sim` for a linear SEM, `extrapolate` for a flow).
#' @return A `medflow_mobility` object: a list with `observed` and
#'   `counterfactual` (numeric matrices with origin bins as rows and
#'   destination bins as columns; `counterfactual` is `NULL` without
#'   mediators), `indices` (a data.frame: rows `immobility`, `shorrocks`,
#'   `rank_correlation`, columns `observed` and `counterfactual`),
#'   `origin_cuts`, `destination_cuts`, `origin`, `destination`, `mediators`,
#'   `a_ref`, `method` and `notes`. It has `print()`, `plot()` and
#'   `as.data.frame()` (long format) methods.
#' @seealso [distributional_effects()]
#' @examples
#' \dontrun{
#' fit <- medflow("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", blau_duncan)
#' mob <- mobility_table(fit, "X", "Y", bins = 5, mediators = "U",
#'                       a_ref = quantile(blau_duncan$X, 0.25, type = 1))
#' mob
#' plot(mob)
#' }
#' @export
mobility_table <- function(object, ...) UseMethod("mobility_table")

#' @rdname mobility_table
#' @export
mobility_table.medflow_fit <- function(object, origin, destination, bins = 5, mediators = NULL,
                                       a_ref = NULL, seed = 0, ...) {
  vars <- object$variables
  check_variable(origin, "origin", vars)
  check_variable(destination, "destination", vars)
  if (identical(origin, destination)) abort("origin = and destination = must be different variables.")
  bins <- check_count(bins, "bins", min = 2)
  if (!is.null(mediators)) {
    check_names_vector(mediators, "mediators")
    unknown <- setdiff(mediators, vars)
    if (length(unknown)) {
      abort("mediators = names ", paste(unknown, collapse = ", "), ", which are not variables of the ",
            "model (", paste(vars, collapse = ", "), ").")
    }
    if (any(mediators %in% c(origin, destination))) {
      abort("mediators = must not contain the origin or the destination.")
    }
  }
  check_number(a_ref, "a_ref", null_ok = TRUE)
  if (is.null(mediators) != is.null(a_ref)) {
    abort("Give both mediators = and a_ref = for a counterfactual table, or neither (for the observed ",
          "table only).")
  }
  seed <- check_count(seed, "seed")
  dots <- check_dots_named(list(...), "mobility_table")
  if (!is.null(dots$n_sim)) dots$n_sim <- check_count(dots$n_sim, "n_sim", min = 100)
  py <- live_py(object)
  args <- c(list(origin = origin, destination = destination, bins = bins),
            py_args(mediators = py_list(mediators), a_ref = if (!is.null(a_ref)) as.numeric(a_ref),
                    seed = seed),
            dots)
  mobility_from_py(py_call_named(py, "mobility_table", args))
}

#' @rdname mobility_table
#' @export
mobility_table.medflow_sem <- mobility_table.medflow_fit

# A Python DataFrame of numbers as a matrix with its index and columns as dimnames.
py_table_to_matrix <- function(x) {
  rows <- py_value(x$values$tolist())
  m <- matrix(as.numeric(unlist(rows)), nrow = length(rows), byrow = TRUE)
  dimnames(m) <- list(as.character(unlist(py_value(x$index$tolist()))),
                      as.character(unlist(py_value(x$columns$tolist()))))
  names(dimnames(m)) <- c(py_value(x$index$name), py_value(x$columns$name))
  m
}

mobility_from_py <- function(res) {
  cf <- res$counterfactual
  indices <- py_frame_to_r(res$indices, index = "index")
  rownames(indices) <- indices$index
  indices$index <- NULL
  a_ref <- py_value(res$a_ref)
  structure(list(
    observed = py_table_to_matrix(res$observed),
    counterfactual = if (!inherits(cf, "python.builtin.NoneType")) py_table_to_matrix(cf),
    indices = indices,
    origin_cuts = as.numeric(unlist(py_value(res$origin_cuts$tolist()))),
    destination_cuts = as.numeric(unlist(py_value(res$destination_cuts$tolist()))),
    origin = py_value(res$origin), destination = py_value(res$destination),
    mediators = as.character(unlist(py_value(res$mediators))),
    a_ref = if (is.null(a_ref)) NULL else as.numeric(a_ref),
    method = py_value(res$method),
    notes = as.character(unlist(py_value(res$notes)))
  ), class = "medflow_mobility")
}

#' @export
print.medflow_mobility <- function(x, digits = 1L, ...) {
  cat(sprintf("Mobility from %s (rows) to %s (columns), %d quantile bins; method: %s\n",
              x$origin, x$destination, nrow(x$observed), x$method))
  cat("Observed, % of each origin bin:\n")
  print(round(100 * x$observed, digits))
  if (!is.null(x$counterfactual)) {
    cat(sprintf("Counterfactual (%s at its value under %s = %s), %% of each origin bin:\n",
                paste(x$mediators, collapse = "+"), x$origin, format(x$a_ref)))
    print(round(100 * x$counterfactual, digits))
  }
  print(round(x$indices, 3))
  if (length(x$notes)) cat(x$notes, sep = "\n")
  invisible(x)
}

#' @export
as.data.frame.medflow_mobility <- function(x, row.names = NULL, optional = FALSE, ...) {
  worlds <- list(observed = x$observed, counterfactual = x$counterfactual)
  worlds <- worlds[!vapply(worlds, is.null, logical(1))]
  parts <- lapply(names(worlds), function(w) {
    m <- worlds[[w]]
    data.frame(world = w, origin_bin = rep(rownames(m), times = ncol(m)),
               destination_bin = rep(colnames(m), each = nrow(m)), probability = as.vector(m),
               method = x$method, stringsAsFactors = FALSE)
  })
  out <- do.call(rbind, parts)
  rownames(out) <- row.names
  out
}

#' Plot mobility tables
#'
#' Heatmaps of the observed and (if any) counterfactual mobility tables, the
#' cells in percent of their origin bin. Needs the package ggplot2.
#'
#' @param x A `medflow_mobility` object from [mobility_table()].
#' @param ... Unused.
#' @return A ggplot object.
#' @examples
#' \dontrun{
#' plot(mobility_table(fit, "X", "Y", mediators = "U", a_ref = 11))
#' }
#' @export
plot.medflow_mobility <- function(x, ...) {
  if (!requireNamespace("ggplot2", quietly = TRUE)) {
    abort("plot() needs the package ggplot2; install it with install.packages(\"ggplot2\").")
  }
  long <- as.data.frame(x)
  k <- nrow(x$observed)
  long$origin <- factor(sub(" .*$", "", long$origin_bin), levels = rev(paste0("Q", seq_len(k))))
  long$destination <- factor(sub(" .*$", "", long$destination_bin), levels = paste0("Q", seq_len(k)))
  long$percent <- 100 * long$probability
  long$world <- factor(ifelse(long$world == "observed", "Observed",
                              sprintf("Counterfactual: %s as under %s = %s",
                                      paste(x$mediators, collapse = "+"), x$origin, format(x$a_ref))))
  long$world <- factor(long$world, levels = unique(long$world))
  aes <- ggplot2::aes
  .data <- ggplot2::.data
  ggplot2::ggplot(long, aes(x = .data$destination, y = .data$origin, fill = .data$percent)) +
    ggplot2::geom_tile(colour = "white") +
    ggplot2::geom_text(aes(label = sprintf("%.0f", .data$percent)), size = 3) +
    ggplot2::scale_fill_gradient(low = "#f7fbff", high = "#2171b5", name = "% of row") +
    ggplot2::facet_wrap(~world) +
    ggplot2::labs(x = sprintf("%s (destination bin)", x$destination),
                  y = sprintf("%s (origin bin)", x$origin)) +
    ggplot2::theme_minimal()
}
