# Sensitivity of a fitted flow's effects to unobserved confounding (rho-GNF):
# a thin wrapper around Python's medflow.sensitivity.sensitivity(). The result
# is a plain data.frame (no Python object), so it survives saveRDS().

#' Sensitivity of effects to unobserved confounding
#'
#' A fitted flow assumes that the noises of its variables are independent,
#' that is, no hidden common causes. A hidden common cause of two variables
#' (say the son's education `U` and his later status `Y`) would make their
#' noises correlated. `sensitivity()` gives the noises of a chosen pair a
#' Gaussian copula with correlation `rho`, refits the flow under that
#' assumption for every `rho` of a grid and recomputes the effects, so that
#' one sees how strong a hidden confounder would have to be to change a
#' conclusion (rho-GNF; Balgi, Peña and Daoud, 2022). `rho = 0` is the
#' no-hidden-confounding model of [effects()] (the fitted flow itself). Rows
#' at `rho != 0` have `identified = FALSE`, with the assumed `rho` named in
#' `assumption`: they rest on a correlation the data cannot check. The `rho`
#' at which an effect's curve crosses zero is its "rho-value".
#'
#' All refits (every pair and every `rho`, and the bootstrap replicates) are
#' trained together as one ensemble, each warm-started from the fit of its
#' own data, so a grid of nine values costs a few fits rather than nine: the
#' point estimates' refits from `object`, a bootstrap replicate's from a
#' refit of the flow on its resample from scratch (the refit of
#' [effects()]'s bootstrap with the same `seed`), never from `object`, so the
#' intervals carry the estimator's full variability. Arguments are
#' checked in R first; the remaining rules (a variable paired with itself, a
#' pair given twice, duplicated `rho` values, unknown estimands, `n_boot = 1`)
#' are checked by the Python package, whose message is passed on as an R
#' error.
#'
#' @param object A fitted flow from [medflow()].
#' @param pairs The pairs of variables whose noises are correlated, each
#'   analysed separately: a character vector such as `c("U ~~ Y", "W ~~ Y")`
#'   or a list of length-2 character vectors such as
#'   `list(c("U", "Y"), c("W", "Y"))`. Any two different model variables
#'   may be paired, including a pair joined by an edge and pairs involving
#'   the treatment.
#' @param rho Numeric vector of noise correlations, each strictly between -1
#'   and 1; `NULL` uses `seq(-0.4, 0.4, by = 0.1)`. The result is sorted by
#'   `rho`.
#' @param treatment,outcome Names of the treatment and outcome variables.
#' @param mediators Optional character vector of mediators; each gets its own
#'   natural direct and indirect effects. A joint set is written `"U+W"`.
#'   `NULL` (the default) takes every variable on a path from the treatment
#'   to the outcome, one at a time, as [effects()] does.
#' @param estimands Optional character vector of estimand codes (`"TE"`,
#'   `"NDE"`, `"NIE"`, `"rNDE"`, `"rNIE"`) or labels (`"NIE via W"`); the
#'   default is the total effect and the natural direct and indirect effects.
#' @param a,a_ref Active and reference values of the treatment. By default
#'   the 75th and 25th percentiles of a continuous treatment, 1 and 0 for a
#'   binary one.
#' @param n_boot Number of bootstrap refits per pair and `rho` for percentile
#'   intervals (0 for none; otherwise at least 2). Replicate `b` uses the same
#'   resample, and the same refit on it, for every `rho`; at `rho = 0` the
#'   replicates are those of [effects()] with the same `seed`.
#' @param level Confidence level of the intervals (default 0.95, as in lavaan).
#' @param seed Seed (a whole number) of the refits, of the draws and of the
#'   bootstrap; the same seed gives the same numbers.
#' @param ... Further named settings passed to the Python function: `epochs`
#'   (fine-tuning epochs of each refit, default 30; `epochs = 0` keeps each
#'   refit at its warm start), `patience`, `lr`, `batch_size`, `n_mc` (average
#'   over draws from each refitted model instead of the observed rows),
#'   `chunks` (train the refits in several smaller ensembles) and
#'   `boot_options = list(chunks = 4)` (split the bootstrap replicates'
#'   refits on their resamples into that many ensembles run through joblib;
#'   `n_jobs` sets its workers).
#' @param verbose Show progress bars of the refits (only on a terminal or in
#'   an interactive session, never in a log file).
#' @return A data.frame of class `medflow_sensitivity` with one row per pair,
#'   `rho` and effect (pairs, then `rho` in increasing order, then effects):
#'   the columns `pair` (written `"U ~~ Y"`) and `rho`, then the columns of
#'   [effect_columns] (estimates in outcome units and, in the columns ending
#'   in `_sd`, in standard deviations of the outcome). Attributes:
#'   `rho_values`, a data.frame with one row per pair and effect label giving
#'   `rho_value`, the `rho` nearest to 0 at which the estimate crosses zero
#'   (linear interpolation on the grid; `NA` when it does not cross on the
#'   grid), and `rho_value_ci`, the same for the interval bounds (`NA`
#'   without intervals); and `notes`, the lines printed under the table. It
#'   has `print()`, `plot()` and `as.data.frame()` methods.
#' @references Balgi, S., Peña, J. M. and Daoud, A. (2022). rho-GNF: a
#'   sensitivity analysis approach under unobserved confounders.
#'   arXiv:2209.07111.
#' @seealso [effects()], [plot.medflow_sensitivity()]
#' @examples
#' \dontrun{
#' fit <- medflow("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", blau_duncan,
#'                epochs = 60, seed = 1)
#' sens <- sensitivity(fit, pairs = c("U ~~ Y", "W ~~ Y"), rho = seq(-0.4, 0.4, by = 0.1),
#'                     treatment = "X", outcome = "Y", mediators = "W", estimands = "NIE")
#' sens
#' attr(sens, "rho_values")
#' plot(sens)
#' }
#' @export
sensitivity <- function(object, pairs, rho = NULL, treatment, outcome, mediators = NULL,
                        estimands = NULL, a = NULL, a_ref = NULL, n_boot = 0, level = 0.95,
                        seed = 0, ..., verbose = FALSE) {
  if (!inherits(object, "medflow_fit")) {
    abort("object = must be a fitted flow from medflow(), not ",
          if (is.object(object)) sprintf("an object of class %s", class(object)[1]) else describe(object),
          ".")
  }
  pairs <- check_pairs(pairs, object$variables)
  check_rho(rho)
  check_effect_args(object$variables, treatment, outcome, NULL, a, a_ref, n_boot, level, seed)
  mediators <- check_mediators(mediators, object)
  if (!is.null(mediators) &&
      any(trimws(unlist(strsplit(mediators, "+", fixed = TRUE))) %in% c(treatment, outcome))) {
    abort("mediators = must not contain the treatment or the outcome.")
  }
  if (!is.null(estimands) && (!is.character(estimands) || !length(estimands) || anyNA(estimands))) {
    abort("estimands = must be a character vector of estimand codes (\"TE\", \"NDE\", \"NIE\", ",
          "\"rNDE\", \"rNIE\") or labels (\"NIE via W\"), not ", describe(estimands), ".")
  }
  check_flag(verbose, "verbose")
  dots <- check_dots_named(list(...), "sensitivity")
  # Whole-number settings go to Python as integers (R numbers are doubles).
  for (nm in intersect(names(dots), c("epochs", "patience", "batch_size", "n_mc", "chunks"))) {
    dots[[nm]] <- check_count(dots[[nm]], nm, min = if (nm == "epochs") 0 else 1)
  }
  py <- live_py(object)
  mf <- medflow_module()
  py_pairs <- reticulate::r_to_py(lapply(pairs, function(p) reticulate::tuple(p[1], p[2])))
  args <- c(list(fit = py, pairs = py_pairs),
            py_args(rho = if (!is.null(rho)) py_list(as.numeric(rho)),
                    treatment = treatment, outcome = outcome,
                    mediators = py_mediators(mediators), estimands = py_list(estimands),
                    a = if (!is.null(a)) as.numeric(a), a_ref = if (!is.null(a_ref)) as.numeric(a_ref),
                    n_boot = as.integer(n_boot), level = as.numeric(level), seed = as.integer(seed),
                    verbose = verbose),
            dots)
  res <- py_call_named(mf, "sensitivity", args)
  new_medflow_sensitivity(py_frame_to_r(res$table),
                          rho_values = py_frame_to_r(res$rho_values()),
                          notes = r_message(as.character(unlist(py_value(res$notes)))))
}

# ---------------------------------------------------------------- checks

# Pairs as a list of length-2 character vectors of model variables.
check_pairs <- function(pairs, vars) {
  hint <- "write each pair as \"U ~~ Y\" or c(\"U\", \"Y\")"
  if (is.character(pairs) && length(pairs) && !anyNA(pairs)) {
    out <- lapply(pairs, function(p) {
      sides <- trimws(strsplit(p, "~~", fixed = TRUE)[[1]])
      if (!grepl("~~", p, fixed = TRUE) || length(sides) != 2L || any(!nzchar(sides))) {
        abort("pairs = : cannot read the pair '", p, "'; ", hint, ".")
      }
      sides
    })
  } else if (is.list(pairs) && !is.data.frame(pairs) && length(pairs)) {
    out <- lapply(seq_along(pairs), function(i) {
      p <- pairs[[i]]
      if (!is.character(p) || length(p) != 2L || anyNA(p) || any(!nzchar(trimws(p))) ||
          any(grepl("~", p, fixed = TRUE))) {
        abort("pairs = : element ", i, " of the list is not a pair of variable names (it is ",
              describe(p), "); ", hint, ".")
      }
      trimws(p)
    })
  } else {
    abort("pairs = must be a character vector such as c(\"U ~~ Y\", \"W ~~ Y\") or a list of ",
          "pairs such as list(c(\"U\", \"Y\"), c(\"W\", \"Y\")), not ", describe(pairs), ".")
  }
  for (p in out) {
    unknown <- unique(setdiff(p, vars))
    if (length(unknown)) {
      abort("pairs = : the pair '", p[1], " ~~ ", p[2], "' names ", paste(unknown, collapse = ", "),
            ", which ", if (length(unknown) > 1L) "are not variables" else "is not a variable",
            " of the model (its variables are ", paste(vars, collapse = ", "), ").")
    }
  }
  out
}

check_rho <- function(rho) {
  if (is.null(rho)) return(invisible(NULL))
  if (!is.numeric(rho) || !length(rho)) {
    abort("rho = must be a numeric vector of correlations such as seq(-0.4, 0.4, by = 0.1), not ",
          describe(rho), ".")
  }
  if (anyNA(rho) || any(!is.finite(rho))) {
    abort("rho = must not contain missing or infinite values.")
  }
  bad <- rho[abs(rho) >= 1]
  if (length(bad)) {
    abort("rho = must lie strictly between -1 and 1 (a correlation of -1 or 1 makes the noise ",
          "covariance singular); got ", paste(sprintf("%g", bad), collapse = ", "), ".")
  }
  invisible(rho)
}

# ---------------------------------------------------------------- the result

sensitivity_columns <- c("pair", "rho", effect_columns)

# The result object from its table (columns sensitivity_columns), the
# rho-values table and the notes; the effect columns get their usual types.
new_medflow_sensitivity <- function(table, rho_values = NULL, notes = character()) {
  # Tables written before the quantile column existed hold effects on means.
  if (!"quantile" %in% names(table)) table$quantile <- rep(NA_real_, nrow(table))
  absent <- setdiff(sensitivity_columns, names(table))
  if (length(absent)) {
    stop("internal error: a sensitivity table lacks the columns ", paste(absent, collapse = ", "),
         ".", call. = FALSE)
  }
  effects <- as.data.frame(as_medflow_effects(table[effect_columns]))
  out <- data.frame(pair = as.character(table$pair), rho = as.numeric(table$rho), effects,
                    stringsAsFactors = FALSE, check.names = FALSE)
  rownames(out) <- NULL
  if (!is.null(rho_values)) {
    rho_values <- data.frame(pair = as.character(rho_values$pair), label = as.character(rho_values$label),
                             rho_value = as.numeric(rho_values$rho_value),
                             rho_value_ci = as.numeric(rho_values$rho_value_ci),
                             stringsAsFactors = FALSE)
  }
  attr(out, "rho_values") <- rho_values
  attr(out, "notes") <- as.character(notes)
  class(out) <- c("medflow_sensitivity", "data.frame")
  out
}

#' @export
as.data.frame.medflow_sensitivity <- function(x, row.names = NULL, optional = FALSE, ...) {
  attr(x, "rho_values") <- NULL
  attr(x, "notes") <- NULL
  class(x) <- "data.frame"
  if (!is.null(row.names)) rownames(x) <- row.names
  x
}

#' @export
print.medflow_sensitivity <- function(x, digits = 3L, ...) {
  if (!all(c("pair", "rho", "label", "estimate_sd", "ci_lower_sd", "ci_upper_sd") %in% names(x))) {
    print(as.data.frame.medflow_sensitivity(x), ...)
    return(invisible(x))
  }
  fmt <- function(v) ifelse(is.na(v), ".", formatC(v, digits = digits, format = "f"))
  cat(sprintf("medflow sensitivity of the effects of %s on %s to a noise correlation rho (rho-GNF)\n",
              paste(unique(x$treatment), collapse = ", "), paste(unique(x$outcome), collapse = ", ")))
  notes <- attr(x, "notes")
  cat(contrast_text(x), "\n", sep = "")
  cat(sprintf("Estimates in standard deviations of %s:\n", paste(unique(x$outcome), collapse = ", ")))
  tab <- data.frame(pair = x$pair, label = x$label, rho = formatC(x$rho, digits = 2, format = "f"),
                    estimate = fmt(x$estimate_sd), stringsAsFactors = FALSE)
  if (any(!is.na(x$ci_lower_sd))) {
    lv <- level_of(x)
    tab[[if (is.na(lv)) "CI" else sprintf("%g%% CI", 100 * lv)]] <-
      ifelse(is.na(x$ci_lower_sd), ".", sprintf("[%s, %s]", fmt(x$ci_lower_sd), fmt(x$ci_upper_sd)))
  }
  print(tab, row.names = FALSE, right = TRUE)
  rv <- attr(x, "rho_values")
  if (!is.null(rv)) rv <- rv[paste(rv$pair, rv$label) %in% paste(x$pair, x$label), , drop = FALSE]
  if (!is.null(rv) && nrow(rv)) {
    cat("\nrho at which each effect crosses zero (. = no crossing on the grid):\n")
    rv_tab <- data.frame(pair = rv$pair, label = rv$label, rho_value = fmt(rv$rho_value),
                         stringsAsFactors = FALSE)
    if (any(!is.na(x$ci_lower_sd))) rv_tab$rho_value_ci <- fmt(rv$rho_value_ci)
    print(rv_tab, row.names = FALSE, right = TRUE)
  }
  rest <- notes[!startsWith(notes, "Contrast:")]
  if (length(rest)) cat("\n", paste0(rest, "\n"), sep = "")
  invisible(x)
}

#' Plot effects against the noise correlation rho
#'
#' Draws each effect (in standard deviations of the outcome by default)
#' against the assumed noise correlation `rho`: one panel per effect label,
#' one line per pair, a band for the bootstrap interval when the result has
#' one (`n_boot > 0`), a horizontal line at zero and a dotted vertical line at
#' `rho = 0` (no hidden confounding). Uses ggplot2 when it is installed,
#' base graphics otherwise.
#'
#' @param x A `medflow_sensitivity` object from [sensitivity()].
#' @param scale `"sd"` (standard deviations of the outcome, the default) or
#'   `"raw"` (outcome units).
#' @param engine `"ggplot2"` or `"base"`; `NULL` (the default) uses ggplot2
#'   when it is installed.
#' @param ... Unused.
#' @return With ggplot2, a ggplot object (printing it draws the plot); with
#'   base graphics, `x` invisibly, after drawing.
#' @examples
#' \dontrun{
#' sens <- sensitivity(fit, pairs = c("U ~~ Y", "W ~~ Y"), treatment = "X", outcome = "Y",
#'                     mediators = "W", estimands = "NIE", n_boot = 20)
#' plot(sens)
#' plot(sens, engine = "base")
#' }
#' @export
plot.medflow_sensitivity <- function(x, scale = c("sd", "raw"), engine = NULL, ...) {
  scale <- match.arg(scale)
  if (is.null(engine)) engine <- if (requireNamespace("ggplot2", quietly = TRUE)) "ggplot2" else "base"
  check_choice(engine, "engine", c("ggplot2", "base"))
  if (engine == "ggplot2" && !requireNamespace("ggplot2", quietly = TRUE)) {
    abort("engine = \"ggplot2\" needs the package ggplot2; install it or use engine = \"base\".")
  }
  sfx <- scale_suffix(scale)
  long <- data.frame(pair = x$pair, label = factor(x$label, levels = unique(x$label)), rho = x$rho,
                     estimate = x[[paste0("estimate", sfx)]], lower = x[[paste0("ci_lower", sfx)]],
                     upper = x[[paste0("ci_upper", sfx)]], stringsAsFactors = FALSE)
  long <- long[order(long$pair, long$label, long$rho), , drop = FALSE]
  outcome <- paste(unique(x$outcome), collapse = ", ")
  ylab <- if (scale == "sd") sprintf("effect (SD of %s)", outcome) else sprintf("effect (units of %s)", outcome)
  xlab <- "noise correlation rho"
  has_ci <- any(!is.na(long$lower))
  if (engine == "ggplot2") {
    aes <- ggplot2::aes
    .data <- ggplot2::.data
    p <- ggplot2::ggplot(long, aes(x = .data$rho, y = .data$estimate, colour = .data$pair,
                                   fill = .data$pair)) +
      ggplot2::geom_hline(yintercept = 0, colour = "grey50") +
      ggplot2::geom_vline(xintercept = 0, colour = "grey70", linetype = "dotted")
    if (has_ci) {
      p <- p + ggplot2::geom_ribbon(aes(ymin = .data$lower, ymax = .data$upper), alpha = 0.2,
                                    colour = NA, na.rm = TRUE)
    }
    p <- p + ggplot2::geom_line(na.rm = TRUE) +
      ggplot2::geom_point(size = 1.5, na.rm = TRUE) +
      ggplot2::facet_wrap("label", scales = "free_y") +
      ggplot2::labs(x = xlab, y = ylab, colour = "pair", fill = "pair") +
      ggplot2::theme_minimal()
    return(p)
  }
  labels <- levels(long$label)
  pairs <- unique(long$pair)
  cols <- grDevices::palette.colors(max(length(pairs), 2L) + 1L)[-1][seq_along(pairs)]
  n_col <- min(length(labels), 3L)
  old <- graphics::par(mfrow = c(ceiling(length(labels) / n_col), n_col), mar = c(4, 4, 2, 1))
  on.exit(graphics::par(old), add = TRUE)
  for (lab in labels) {
    sub <- long[long$label == lab, , drop = FALSE]
    ylim <- range(c(0, sub$estimate, sub$lower, sub$upper), na.rm = TRUE)
    graphics::plot(range(sub$rho), ylim, type = "n", xlab = xlab, ylab = ylab, main = lab)
    graphics::abline(h = 0, col = "grey50")
    graphics::abline(v = 0, col = "grey70", lty = 3)
    for (k in seq_along(pairs)) {
      s <- sub[sub$pair == pairs[k], , drop = FALSE]
      ok <- !is.na(s$lower) & !is.na(s$upper)
      if (any(ok)) {
        graphics::polygon(c(s$rho[ok], rev(s$rho[ok])), c(s$lower[ok], rev(s$upper[ok])),
                          col = grDevices::adjustcolor(cols[k], alpha.f = 0.2), border = NA)
      }
      graphics::lines(s$rho, s$estimate, col = cols[k], lwd = 1.5)
      graphics::points(s$rho, s$estimate, col = cols[k], pch = 16, cex = 0.7)
    }
    if (lab == labels[1]) {
      graphics::legend("topleft", legend = pairs, col = cols, lwd = 1.5, bty = "n", cex = 0.8)
    }
  }
  invisible(x)
}
