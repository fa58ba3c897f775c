#' Compare effect estimates of the same query
#'
#' Stacks several effects tables of the same treatment, outcome and contrast
#' (for example a flow and a linear SEM fitted to the same data) in one long
#' table, one row per effect and result: the layout of Python's
#' `medflow.compare()` and of the command line's `comparison.csv`. Works on
#' the plain R results, so it needs no Python.
#'
#' @param ... `medflow_effects` objects (from [effects()], [path_effects()],
#'   [decompose_effect()], [cde()]), optionally named.
#' @param names Optional distinct names of the results; default the argument
#'   names, else each result's method.
#' @return A data.frame of class `medflow_comparison` with the columns in
#'   [comparison_columns]: `label`, `estimand`, `name` (of the result),
#'   `method`, `estimate`, `std_error`, `ci_lower`, `ci_upper` (outcome units),
#'   the same in SD units of the outcome (`*_sd`), `level`, `identified` and
#'   `witness`; rows ordered by label (first appearance), then by result. It
#'   has `print()` (side by side, `scale = "sd"` or `"raw"`) and `plot()`
#'   methods.
#' @details `compare()` refuses results whose treatment, outcome, `a` or
#'   `a_ref` differ: their numbers answer different questions.
#' @examples
#' lin <- as_medflow_effects(read.csv(system.file(
#'   "extdata", "blau_duncan_linear_effects.csv", package = "medflow")))
#' flow <- as_medflow_effects(read.csv(system.file(
#'   "extdata", "blau_duncan_flow_effects.csv", package = "medflow")))
#' compare(flow = flow, linear = lin)
#' @export
compare <- function(..., names = NULL) {
  results <- list(...)
  if (!length(results)) abort("compare() needs at least one effects table.")
  ok <- vapply(results, function(r) is.data.frame(r) && is_effects_table(r), logical(1))
  if (!all(ok)) {
    abort("compare() takes effects tables from effects(), path_effects(), decompose_effect() or cde(); ",
          "argument ", which(!ok)[1], " is ", describe(results[[which(!ok)[1]]]), ".")
  }
  if (is.null(names)) {
    arg_names <- names(results)
    names <- vapply(seq_along(results), function(i) {
      if (!is.null(arg_names) && nzchar(arg_names[i])) arg_names[i] else
        paste(unique(results[[i]]$method), collapse = ", ")
    }, character(1))
  }
  if (!is.character(names) || length(names) != length(results) || anyDuplicated(names) ||
      anyNA(names)) {
    abort("compare() needs one distinct name per result (pass names = c(...)).")
  }
  differ <- character(0)
  for (col in c("treatment", "outcome", "a", "a_ref")) {
    seen <- lapply(results, function(r) unique(r[[col]]))
    values <- unlist(seen)
    same <- if (is.character(values)) length(unique(values)) <= 1L else
      all(abs(values - values[1]) <= 1e-9 * abs(values[1]))
    if (!same) {
      shown <- vapply(seq_along(seen), function(i) {
        paste0(names[i], ": ", paste(format(seen[[i]], trim = TRUE, digits = 15), collapse = ", "))
      }, character(1))
      differ <- c(differ, paste0(col, " (", paste(shown, collapse = "; "), ")"))
    }
  }
  if (length(differ)) {
    abort("compare() needs results of the same treatment, outcome and contrast; these differ: ",
          paste(differ, collapse = "; "), ".")
  }
  long <- do.call(rbind, lapply(seq_along(results), function(i) {
    r <- as.data.frame(results[[i]])
    r$name <- rep(names[i], nrow(r))
    r[comparison_columns]
  }))
  labels <- unique(long$label)
  long <- long[order(match(long$label, labels), match(long$name, names)), , drop = FALSE]
  rownames(long) <- NULL
  attr(long, "result_names") <- names
  attr(long, "outcome") <- paste(unique(unlist(lapply(results, function(r) r$outcome))), collapse = ", ")
  class(long) <- c("medflow_comparison", "data.frame")
  long
}

#' Columns of the comparison layout
#'
#' The columns of [compare()]'s table, the same as Python's
#' `medflow.results.COMPARISON_COLUMNS` and the command line's
#' `comparison.csv`.
#'
#' @format A character vector.
#' @examples
#' comparison_columns
#' @export
comparison_columns <- c(
  "label", "estimand", "name", "method", "estimate", "std_error", "ci_lower", "ci_upper",
  "estimate_sd", "std_error_sd", "ci_lower_sd", "ci_upper_sd", "level", "identified", "witness"
)

# One column per result: estimate (with * when not identified) and interval.
comparison_wide <- function(x, scale, digits) {
  nm <- attr(x, "result_names")
  if (is.null(nm)) nm <- unique(x$name)
  sfx <- scale_suffix(scale)
  labels <- unique(x$label)
  tab <- data.frame(label = labels, stringsAsFactors = FALSE, check.names = FALSE)
  fmt <- function(v) ifelse(is.na(v), ".", formatC(v, digits = digits, format = "f"))
  for (n in nm) {
    r <- x[x$name == n, , drop = FALSE]
    idx <- match(labels, r$label)
    est <- r[[paste0("estimate", sfx)]][idx]
    lo <- r[[paste0("ci_lower", sfx)]][idx]
    hi <- r[[paste0("ci_upper", sfx)]][idx]
    idf <- r$identified[idx]
    tab[[n]] <- paste0(fmt(est), ifelse(!is.na(idf) & !idf, "*", ""),
                       ifelse(is.na(lo), "", paste0(" [", fmt(lo), ", ", fmt(hi), "]")))
    tab[[n]][is.na(est)] <- ""
  }
  tab
}

#' @export
print.medflow_comparison <- function(x, digits = 3L, scale = c("sd", "raw"), ...) {
  scale <- match.arg(scale)
  if (!all(comparison_columns %in% names(x))) {  # a selection of columns: print it as it is
    print(as.data.frame(unclass(x), stringsAsFactors = FALSE), digits = digits)
    return(invisible(x))
  }
  cat(sprintf("Effect estimates side by side (%s)\n",
              if (identical(scale, "raw")) "outcome units" else "SD of the outcome"))
  tab <- comparison_wide(x, scale, digits)
  names(tab)[1] <- ""
  print(tab, row.names = FALSE, right = FALSE)
  if (any(!x$identified, na.rm = TRUE)) {
    cat("* not identified from the observed distribution (rests on the monotone-noise assumption)\n")
  }
  invisible(x)
}

#' @rdname plot.medflow_effects
#' @export
plot.medflow_comparison <- function(x, scale = c("sd", "raw"), ...) {
  scale <- match.arg(scale)
  sfx <- scale_suffix(scale)
  long <- data.frame(label = x$label, group = x$name, estimate = x[[paste0("estimate", sfx)]],
                     lower = x[[paste0("ci_lower", sfx)]], upper = x[[paste0("ci_upper", sfx)]],
                     identified = ifelse(!is.na(x$identified) & !x$identified, "no (assumption)", "yes"),
                     stringsAsFactors = FALSE)
  long <- long[!is.na(long$estimate), , drop = FALSE]
  forest_plot(long, scale = scale, outcome = attr(x, "outcome"), legend = "result")
}
