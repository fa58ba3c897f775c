# The effects table: a plain data.frame with the tidy columns shared with the
# Python package (medflow.results.EFFECT_COLUMNS), with the extra class
# "medflow_effects" for printing. It holds no Python object, so it survives
# saveRDS()/readRDS() and works without Python.

#' Columns of a medflow effects table
#'
#' The tidy schema every effects table has, in order; the same as
#' `medflow.results.EFFECT_COLUMNS` in the Python package. Estimates are in
#' the outcome's units; the columns ending in `_sd` divide them by the sample
#' standard deviation of the outcome. `quantile` is `NA` for an effect on the
#' mean and the level `q` for a difference of `q`-quantiles
#' ([distributional_effects()]); a table without it (read from an older
#' file) is taken to hold effects on means.
#'
#' The columns:
#' * `estimand` (`"TE"`, `"NDE"`, `"NIE"`, `"rNDE"`, `"rNIE"`, `"PSE"`,
#'   `"PART"`), `label` (the row's name, e.g. `"NIE via W"`), `path` (the
#'   directed paths the effect runs along), `treatment`, `outcome`,
#'   `mediators`, and the contrast `a` versus `a_ref`;
#' * `estimate`, its bootstrap `std_error` and interval `ci_lower`,
#'   `ci_upper` at confidence `level` (in the outcome's units), and the same
#'   four in standard deviations of the outcome (`_sd`);
#' * `mc_error`: the Monte Carlo error of a flow's estimate, the standard
#'   error of its average over the units (or draws) that the counterfactual
#'   computation averages over. It measures the numerical error of that
#'   average, not the sampling uncertainty (that is `std_error`); `NA` for
#'   the linear SEM, whose effects are exact functions of its coefficients;
#' * `identified` (is the effect identified from the observed distribution?),
#'   `witness` (the recanting witness when it is not), `assumption` (what the
#'   estimate then rests on), `method` (`"flow"` or `"linear"`), `n_boot`
#'   (bootstrap refits) and `n` (rows).
#'
#' @format A character vector.
#' @examples
#' effect_columns
#' @export
effect_columns <- c(
  "estimand", "label", "path", "treatment", "outcome", "mediators", "a", "a_ref",
  "estimate", "std_error", "ci_lower", "ci_upper", "level",
  "estimate_sd", "std_error_sd", "ci_lower_sd", "ci_upper_sd",
  "mc_error", "identified", "witness", "assumption", "method", "n_boot", "n", "quantile"
)

effect_types <- list(
  character = c("estimand", "label", "path", "treatment", "outcome", "mediators",
                "witness", "assumption", "method"),
  numeric = c("a", "a_ref", "estimate", "std_error", "ci_lower", "ci_upper", "level",
              "estimate_sd", "std_error_sd", "ci_lower_sd", "ci_upper_sd", "mc_error", "quantile"),
  integer = c("n_boot", "n"),
  logical = "identified"
)

#' Make or check a medflow effects table
#'
#' Turns a data.frame with the columns [effect_columns] (for example one read
#' back from a CSV file) into a `medflow_effects` object with `print()`,
#' `summary()`, `plot()`, `coef()`, `confint()` and `as.data.frame()` methods.
#'
#' @param x A data.frame with the columns in [effect_columns].
#' @param notes Optional character vector of lines printed under the summary.
#' @param draws Optional data.frame of bootstrap replicates, one column per
#'   effect label; used by [confint()] at other levels.
#' @return A `medflow_effects` object (a data.frame).
#' @examples
#' tab <- data.frame(
#'   estimand = "TE", label = "TE", path = "X -> Y", treatment = "X", outcome = "Y",
#'   mediators = "", a = 1, a_ref = 0, estimate = 0.5, std_error = 0.1,
#'   ci_lower = 0.34, ci_upper = 0.66, level = 0.9, estimate_sd = 0.25,
#'   std_error_sd = 0.05, ci_lower_sd = 0.17, ci_upper_sd = 0.33, mc_error = NA,
#'   identified = TRUE, witness = "", assumption = "", method = "linear",
#'   n_boot = 0L, n = 100L
#' )
#' eff <- as_medflow_effects(tab)
#' coef(eff)
#' @export
as_medflow_effects <- function(x, notes = NULL, draws = NULL) {
  if (!is.data.frame(x)) {
    abort("x = must be a data.frame with the columns of effect_columns, not ", describe(x), ".")
  }
  # Tables written before the quantile column existed are effects on means.
  if (!"quantile" %in% names(x)) x$quantile <- rep(NA_real_, nrow(x))
  absent <- setdiff(effect_columns, names(x))
  if (length(absent)) {
    abort("x = lacks the effects column", if (length(absent) > 1L) "s", " ",
          paste(absent, collapse = ", "), ".")
  }
  x <- as.data.frame(x, stringsAsFactors = FALSE)[effect_columns]
  for (col in effect_types$character) {
    v <- as.character(x[[col]])
    v[is.na(v)] <- ""
    x[[col]] <- v
  }
  for (col in effect_types$numeric) x[[col]] <- as.numeric(x[[col]])
  for (col in effect_types$integer) x[[col]] <- as.integer(x[[col]])
  x$identified <- as.logical(x$identified)
  rownames(x) <- NULL
  if (!is.null(draws)) {
    if (!is.data.frame(draws)) abort("draws = must be a data.frame of bootstrap replicates.")
    draws <- as.data.frame(draws, check.names = FALSE)
  }
  attr(x, "notes") <- as.character(notes)
  attr(x, "draws") <- draws
  class(x) <- c("medflow_effects", "data.frame")
  x
}

is_effects_table <- function(x) all(effect_columns %in% names(x))

#' @export
as.data.frame.medflow_effects <- function(x, row.names = NULL, optional = FALSE, ...) {
  attr(x, "notes") <- NULL
  attr(x, "draws") <- NULL
  class(x) <- "data.frame"
  if (!is.null(row.names)) rownames(x) <- row.names
  x
}

scale_suffix <- function(scale) if (identical(scale, "sd")) "_sd" else ""

# Row labels in the style of lavaan/paths, short enough for an 80-column
# table: "Natural Indirect: X ~> W ~> Y".
display_labels <- function(x) {
  vapply(seq_len(nrow(x)), function(i) {
    r <- x[i, , drop = FALSE]
    med <- r$mediators
    tr <- r$treatment
    out <- r$outcome
    via <- if (nzchar(med)) sprintf("%s ~> %s ~> %s", tr, med, out) else sprintf("%s ~> %s", tr, out)
    not_via <- if (nzchar(med)) sprintf("%s ~> %s not via %s", tr, out, med) else sprintf("%s -> %s", tr, out)
    lab <- switch(
      r$estimand,
      TE = sprintf("Total Effect: %s ~> %s", tr, out),
      NDE = sprintf("Natural Direct: %s", not_via),
      NIE = sprintf("Natural Indirect: %s", via),
      rNDE = sprintf("Interventional Direct: %s", not_via),
      rNIE = sprintf("Interventional Indirect: %s", via),
      PSE = sprintf("Path-Specific Effect: %s",
                    if (nzchar(r$path)) r$path else sub("^PSE:\\s*", "", r$label)),
      PART = if (grepl("direct$", r$label)) {
        sprintf("Sequential Part: %s ~> %s (remaining paths)", tr, out)
      } else {
        sprintf("Sequential Part: %s", via)
      },
      MEAN = sprintf("Mean Outcome: E[%s(%s = %s)]", out, tr, format(r$a, digits = 4)),
      CDE = sprintf("Controlled Direct Effect: %s -> %s", tr, out),
      r$label
    )
    # Distributional rows ("TE [q=0.5]", "TE [P(Y > 40)]") keep their bracketed suffix.
    suffix <- regmatches(r$label, regexpr(" \\[[^]]*\\]$", r$label))
    if (length(suffix)) lab <- paste0(lab, suffix)
    if (isFALSE(r$identified)) paste0(lab, " *") else lab
  }, character(1))
}

level_of <- function(x) {
  lv <- unique(x$level[!is.na(x$level)])
  if (length(lv)) lv[1] else NA_real_
}

contrast_line <- function(x) {
  if (!nrow(x)) return(character())
  tr <- unique(x$treatment)
  a <- unique(x$a)
  a_ref <- unique(x$a_ref)
  if (length(tr) == 1L && length(a) == 1L && length(a_ref) == 1L) {
    sprintf("Contrast: %s = %s (active) vs %s = %s (reference)", tr, format(a, digits = 6),
            tr, format(a_ref, digits = 6))
  } else {
    "Contrasts differ between rows (see columns a and a_ref)."
  }
}

# Whether each estimate's Monte Carlo error is worth showing: at least 0.001 SD of the
# outcome and a tenth of the standard error (as EffectsResult.mc_relevant() in Python).
mc_relevant <- function(x) {
  se <- x$std_error
  se[is.na(se)] <- 0
  out <- is.finite(x$mc_error) & x$mc_error >= 0.001 * abs(sd_outcome(x)) & x$mc_error >= 0.1 * se
  out[is.na(out)] <- FALSE
  out
}

sd_outcome <- function(x) {
  s <- x$estimate / x$estimate_sd
  s <- s[is.finite(s)]
  if (length(s)) s[1] else NA_real_
}

identification_footnote <- function(x) {
  bad <- isFALSE_vec(x$identified)
  if (!any(bad)) return(character())
  w <- sort(unique(x$witness[bad & nzchar(x$witness)]))
  assumption <- unique(trimws(sub(";.*$", "", x$assumption[bad & nzchar(x$assumption)])))
  c(sprintf("* Not identified from the observed distribution%s;",
            if (length(w)) sprintf(" (recanting witness: %s)", paste(w, collapse = ", ")) else ""),
    if (length(assumption)) paste0("  the estimate assumes: ", assumption, ".") else
      "  the estimate rests on the model's functional-form assumptions.")
}

# The contrast line: the Python note (which says how the contrast was chosen)
# when there is one, else built from the table.
contrast_text <- function(x) {
  notes <- attr(x, "notes")
  hit <- notes[startsWith(notes, "Contrast:")]
  if (length(hit)) hit[1] else contrast_line(x)
}

other_notes <- function(x) {
  notes <- attr(x, "notes")
  notes[!startsWith(notes, "Contrast:")]
}

isFALSE_vec <- function(v) !is.na(v) & !v

#' @export
print.medflow_effects <- function(x, digits = max(3L, getOption("digits") - 3L), ...) {
  if (!is_effects_table(x)) {
    print(as.data.frame.medflow_effects(x), ...)
    return(invisible(x))
  }
  cat(sprintf("medflow effects of %s on %s (method: %s)\n",
              paste(unique(x$treatment), collapse = ", "),
              paste(unique(x$outcome), collapse = ", "), paste(unique(x$method), collapse = ", ")))
  lv <- level_of(x)
  ci <- if (is.na(lv)) "CI" else sprintf("%g%% CI", 100 * lv)
  fmt <- function(v) ifelse(is.na(v), ".", formatC(v, digits = digits, format = "fg", flag = "#"))
  tab <- cbind(fmt(x$estimate),
               ifelse(is.na(x$ci_lower), ".", sprintf("[%s, %s]", fmt(x$ci_lower), fmt(x$ci_upper))),
               fmt(x$estimate_sd))
  dimnames(tab) <- list(paste0(x$label, ifelse(isFALSE_vec(x$identified), " *", "")),
                        c("estimate", ci, "SD units"))
  if (all(is.na(x$ci_lower))) tab <- tab[, -2, drop = FALSE]
  print(tab, quote = FALSE, right = TRUE)
  foot <- identification_footnote(x)
  if (length(foot)) cat(wrap_lines(foot), sep = "\n")
  cat(wrap_lines(contrast_text(x)), sep = "\n")
  invisible(x)
}

#' Summarise estimated effects
#'
#' `summary()` builds a coefficient table (estimate, standard error,
#' Monte Carlo error where it is not negligible, and interval, with
#' lavaan/paths-style row labels) and a footer with the
#' contrast, N, bootstrap draws and which estimates are not identified; its
#' `print()` method renders it with [stats::printCoefmat()].
#'
#' @param object,x A `medflow_effects` object (see [effects()]).
#' @param scale `"raw"` (outcome units) or `"sd"` (standard deviations of the
#'   outcome).
#' @param digits Significant digits to print.
#' @param ... Unused.
#' @return `summary()` returns an object of class `summary.medflow_effects`
#'   (a list with the coefficient matrix and the header and footer lines).
#' @examples
#' eff <- as_medflow_effects(read.csv(system.file(
#'   "extdata", "blau_duncan_linear_effects.csv", package = "medflow")))
#' summary(eff)
#' summary(eff, scale = "sd")
#' @export
summary.medflow_effects <- function(object, scale = c("raw", "sd"), ...) {
  scale <- match.arg(scale)
  if (!is_effects_table(object)) abort("object = is not a complete medflow effects table.")
  sfx <- scale_suffix(scale)
  lv <- level_of(object)
  ci <- if (is.na(lv)) c("CI lower", "CI upper") else sprintf(c("%g%% lower", "%g%% upper"), 100 * lv)
  coefs <- cbind(object[[paste0("estimate", sfx)]], object[[paste0("std_error", sfx)]],
                 object[[paste0("ci_lower", sfx)]], object[[paste0("ci_upper", sfx)]])
  dimnames(coefs) <- list(display_labels(object), c("Estimate", "Std. Error", ci))
  relevant <- mc_relevant(object)
  if (any(relevant)) {
    mc <- object$mc_error / if (scale == "sd") sd_outcome(object) else 1
    coefs <- cbind(coefs[, 1:2, drop = FALSE], "MC error" = ifelse(relevant, mc, NA_real_),
                   coefs[, 3:4, drop = FALSE])
  }
  empty <- c(FALSE, apply(is.na(coefs[, -1, drop = FALSE]), 2, all))
  coefs <- coefs[, !empty, drop = FALSE]
  s_y <- sd_outcome(object)
  unit <- if (scale == "raw") {
    sprintf("Estimates in units of %s%s.", paste(unique(object$outcome), collapse = ", "),
            if (is.finite(s_y)) sprintf(" (SD of the outcome: %s)", format(s_y, digits = 4)) else "")
  } else {
    sprintf("Estimates in standard deviations of %s.", paste(unique(object$outcome), collapse = ", "))
  }
  n <- unique(object$n[!is.na(object$n) & object$n > 0])
  n_boot <- unique(object$n_boot[!is.na(object$n_boot)])
  se_line <- if (length(n_boot) && max(n_boot) > 0) {
    sprintf("Bootstrap draws: %s (percentile intervals)", paste(n_boot, collapse = ", "))
  } else if (all(is.na(object$std_error))) {
    "Bootstrap draws: 0 (no standard errors or intervals; refit with n_boot = 200, say)"
  } else {
    "Bootstrap draws: 0 (analytic standard errors)"
  }
  structure(list(
    coefficients = coefs,
    header = c(sprintf("Causal effects of %s on %s, method: %s",
                       paste(unique(object$treatment), collapse = ", "),
                       paste(unique(object$outcome), collapse = ", "),
                       paste(unique(object$method), collapse = ", ")),
               contrast_text(object), unit),
    footer = c(sprintf("N = %s", if (length(n)) paste(n, collapse = ", ") else "unknown"),
               se_line,
               if (any(relevant)) paste("MC error: Monte Carlo error of the estimate (from its random",
                                        "draws; another seed moves it by about this much); . = negligible."),
               identification_footnote(object), other_notes(object)),
    scale = scale
  ), class = "summary.medflow_effects")
}

#' @rdname summary.medflow_effects
#' @export
print.summary.medflow_effects <- function(x, digits = max(3L, getOption("digits") - 3L), ...) {
  cat(wrap_lines(x$header), sep = "\n")
  cat("\n")
  m <- x$coefficients
  ci <- grep("% (lower|upper)$", colnames(m))
  if ("MC error" %in% colnames(m) && length(ci)) {
    # shorter headers so that five columns fit in 80 characters; the level goes above them
    cat(sprintf("(%s intervals)\n", sub(" lower$", "", colnames(m)[ci[1]])))
    colnames(m) <- sub("^.*% ", "", sub("MC error", "MC err", sub("Std. Error", "Std.Err", colnames(m))))
  }
  # one number of decimals for the whole table (a small Monte Carlo error would otherwise
  # widen every column): enough for `digits` significant digits of the largest estimate
  dec <- max(0L, digits - 1L - floor(log10(max(abs(m[, 1]), 1e-12, na.rm = TRUE))))
  shown <- matrix(ifelse(is.na(m), ".", formatC(m, format = "f", digits = dec)), nrow(m),
                  dimnames = dimnames(m))
  print(noquote(shown), right = TRUE)
  cat("\n")
  cat(wrap_lines(x$footer), sep = "\n")
  invisible(x)
}

# Lines wrapped at the console width (at most 80 columns), continuation lines
# indented by two spaces.
wrap_lines <- function(lines, width = min(80L, getOption("width"))) {
  unlist(lapply(lines, function(l) {
    indent <- nchar(sub("^( *).*$", "\\1", l))
    strwrap(l, width = width, indent = indent, exdent = indent + 2L)
  }))
}

#' Estimates and intervals of a medflow effects table
#'
#' @aliases confint coef
#' @param object A `medflow_effects` object.
#' @param parm Labels (such as `"NIE via W"`), estimands (such as `"NIE"`,
#'   every row of that estimand) or positions of the effects to return;
#'   default all.
#' @param level Confidence level. `NULL` returns the intervals the result was
#'   computed with; another level recomputes intervals from the stored
#'   bootstrap draws.
#' @param scale `"raw"` (outcome units) or `"sd"` (standard deviations of the
#'   outcome).
#' @param type `"percentile"` (the quantiles of the bootstrap draws; what the
#'   table holds) or `"basic"` (the percentile interval reflected about the
#'   estimate, `2 * estimate - upper` to `2 * estimate - lower`), which moves
#'   the interval against a bias that the refits show.
#' @param ... Unused.
#' @return `coef()`: a named numeric vector; `confint()`: a matrix with one row
#'   per effect and the lower and upper limits as columns.
#' @examples
#' eff <- as_medflow_effects(read.csv(system.file(
#'   "extdata", "blau_duncan_linear_effects.csv", package = "medflow")))
#' coef(eff)
#' confint(eff, scale = "sd")
#' @export
coef.medflow_effects <- function(object, scale = c("raw", "sd"), ...) {
  scale <- match.arg(scale)
  stats::setNames(object[[paste0("estimate", scale_suffix(scale))]], object$label)
}

#' @rdname coef.medflow_effects
#' @export
confint.medflow_effects <- function(object, parm, level = NULL, scale = c("raw", "sd"),
                                    type = c("percentile", "basic"), ...) {
  scale <- match.arg(scale)
  type <- match.arg(type)
  sfx <- scale_suffix(scale)
  stored <- level_of(object)
  if (type == "percentile" && (is.null(level) || (!is.na(stored) && isTRUE(all.equal(level, stored))))) {
    lv <- stored
    ci <- cbind(object[[paste0("ci_lower", sfx)]], object[[paste0("ci_upper", sfx)]])
  } else {
    if (!is.null(level)) check_level(level)
    draws <- attr(object, "draws")
    if (is.null(draws)) {
      abort("This result has no bootstrap draws; refit with n_boot = greater than 0 to compute ",
            "intervals at another level or of another type.")
    }
    lv <- if (is.null(level)) stored else level
    probs <- c((1 - lv) / 2, 1 - (1 - lv) / 2)
    ci <- t(vapply(object$label, function(l) {
      if (l %in% names(draws)) stats::quantile(draws[[l]], probs, names = FALSE, na.rm = TRUE) else c(NA, NA)
    }, numeric(2)))
    if (type == "basic") ci <- 2 * object$estimate - ci[, 2:1, drop = FALSE]
    if (scale == "sd") ci <- ci / (object$estimate / object$estimate_sd)
  }
  pct <- if (is.na(lv)) c("lower", "upper") else
    paste(format(100 * c((1 - lv) / 2, 1 - (1 - lv) / 2), trim = TRUE, scientific = FALSE,
                 digits = 3), "%")
  dimnames(ci) <- list(object$label, pct)
  if (!missing(parm)) ci <- ci[effect_rows(object, parm), , drop = FALSE]
  ci
}

# Rows of an effects table chosen by parm =: labels ("NIE via W"), estimands
# ("NIE": every row of that estimand) or positions.
effect_rows <- function(object, parm) {
  n <- nrow(object)
  if (is.numeric(parm)) {
    if (anyNA(parm) || any(parm != round(parm)) || any(parm < 1 | parm > n)) {
      abort("parm = positions must be whole numbers from 1 to ", n, ".")
    }
    return(as.integer(parm))
  }
  if (!is.character(parm) || !length(parm) || anyNA(parm)) {
    abort("parm = must be effect labels (such as \"", object$label[1], "\"), estimands or positions, ",
          "not ", describe(parm), ".")
  }
  rows <- lapply(parm, function(p) {
    hit <- which(object$label == p)
    if (!length(hit)) hit <- which(object$estimand == p)
    hit
  })
  unknown <- parm[lengths(rows) == 0L]
  if (length(unknown)) {
    abort("parm = names ", paste0("\"", unknown, "\"", collapse = ", "), ", which ",
          if (length(unknown) > 1L) "are" else "is", " not an effect of this table; its labels are ",
          paste0("\"", object$label, "\"", collapse = ", "), ".")
  }
  unique(unlist(rows))
}

#' Forest plot of estimated effects
#'
#' Draws each estimate with its interval (ggplot2). Non-identified estimates
#' are drawn with open symbols. Tables with several methods (e.g. rows of a
#' flow and a linear result bound with [rbind()]) get one colour per method.
#'
#' @param x A `medflow_effects` object.
#' @param scale `"sd"` (standard deviations of the outcome, the default) or
#'   `"raw"`.
#' @param ... Unused.
#' @return A ggplot object.
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   eff <- as_medflow_effects(read.csv(system.file(
#'     "extdata", "blau_duncan_linear_effects.csv", package = "medflow")))
#'   plot(eff)
#' }
#' @export
plot.medflow_effects <- function(x, scale = c("sd", "raw"), ...) {
  scale <- match.arg(scale)
  sfx <- scale_suffix(scale)
  long <- data.frame(
    label = x$label, group = x$method,
    estimate = x[[paste0("estimate", sfx)]],
    lower = x[[paste0("ci_lower", sfx)]], upper = x[[paste0("ci_upper", sfx)]],
    identified = ifelse(isFALSE_vec(x$identified), "no (assumption)", "yes"),
    stringsAsFactors = FALSE
  )
  forest_plot(long, scale = scale, outcome = paste(unique(x$outcome), collapse = ", "),
              legend = "method")
}

forest_plot <- function(long, scale, outcome, legend) {
  if (!requireNamespace("ggplot2", quietly = TRUE)) {
    abort("plot() needs the package ggplot2; install it with install.packages(\"ggplot2\").")
  }
  long$label <- factor(long$label, levels = rev(unique(long$label)))
  long$identified <- factor(long$identified, levels = c("yes", "no (assumption)"))
  dodge <- ggplot2::position_dodge(width = if (length(unique(long$group)) > 1L) 0.5 else 0)
  aes <- ggplot2::aes
  .data <- ggplot2::.data
  p <- ggplot2::ggplot(long, aes(x = .data$estimate, y = .data$label, colour = .data$group,
                                 shape = .data$identified)) +
    ggplot2::geom_vline(xintercept = 0, colour = "grey60") +
    ggplot2::geom_errorbarh(aes(xmin = .data$lower, xmax = .data$upper), height = 0.2,
                            position = dodge, na.rm = TRUE) +
    ggplot2::geom_point(size = 2.4, position = dodge, na.rm = TRUE) +
    ggplot2::scale_shape_manual(values = c(yes = 16, "no (assumption)" = 1), drop = FALSE,
                                name = "identified") +
    ggplot2::labs(x = if (scale == "sd") sprintf("effect (SD of %s)", outcome) else
      sprintf("effect (units of %s)", outcome), y = NULL, colour = legend) +
    ggplot2::theme_minimal()
  p
}
