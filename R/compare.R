#' Compare effect estimates side by side
#'
#' Puts several effects tables (for example a flow and a linear SEM fitted to
#' the same data) next to each other, one row per effect label. Works on the
#' plain R results, so it needs no Python.
#'
#' @param ... `medflow_effects` objects (from [effects()], [path_effects()],
#'   [decompose_effect()]), optionally named.
#' @param names Optional distinct names of the results; default the argument
#'   names, else each result's method.
#' @param scale `"sd"` (standard deviations of the outcome, the default) or
#'   `"raw"` (outcome units).
#' @return A data.frame of class `medflow_comparison` with a `label` column
#'   and, for each result `<name>`, the columns `<name>_estimate`,
#'   `<name>_ci_lower`, `<name>_ci_upper` and `<name>_identified`. It has
#'   `print()` and `plot()` methods.
#' @examples
#' lin <- as_medflow_effects(read.csv(system.file(
#'   "extdata", "blau_duncan_linear_effects.csv", package = "medflow")))
#' flow <- as_medflow_effects(read.csv(system.file(
#'   "extdata", "blau_duncan_flow_effects.csv", package = "medflow")))
#' compare(flow = flow, linear = lin)
#' @export
compare <- function(..., names = NULL, scale = c("sd", "raw")) {
  results <- list(...)
  scale <- match.arg(scale)
  if (!length(results)) abort("compare() needs at least one effects table.")
  ok <- vapply(results, function(r) is.data.frame(r) && is_effects_table(r), logical(1))
  if (!all(ok)) {
    abort("compare() takes effects tables from effects(), path_effects() or decompose_effect(); ",
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
  sfx <- scale_suffix(scale)
  labels <- unique(unlist(lapply(results, function(r) r$label)))
  out <- data.frame(label = labels, stringsAsFactors = FALSE)
  for (i in seq_along(results)) {
    r <- results[[i]]
    idx <- match(labels, r$label)
    out[[paste0(names[i], "_estimate")]] <- r[[paste0("estimate", sfx)]][idx]
    out[[paste0(names[i], "_ci_lower")]] <- r[[paste0("ci_lower", sfx)]][idx]
    out[[paste0(names[i], "_ci_upper")]] <- r[[paste0("ci_upper", sfx)]][idx]
    out[[paste0(names[i], "_identified")]] <- r$identified[idx]
  }
  attr(out, "result_names") <- names
  attr(out, "scale") <- scale
  attr(out, "outcome") <- paste(unique(unlist(lapply(results, function(r) r$outcome))), collapse = ", ")
  class(out) <- c("medflow_comparison", "data.frame")
  out
}

#' @export
print.medflow_comparison <- function(x, digits = 3L, ...) {
  nm <- attr(x, "result_names")
  scale <- attr(x, "scale")
  cat(sprintf("Effect estimates side by side (%s)\n",
              if (identical(scale, "raw")) "outcome units" else "SD of the outcome"))
  if (is.null(nm)) {
    print(as.data.frame(unclass(x)), digits = digits)
    return(invisible(x))
  }
  tab <- data.frame(label = x$label, stringsAsFactors = FALSE, check.names = FALSE)
  fmt <- function(v) ifelse(is.na(v), ".", formatC(v, digits = digits, format = "f"))
  for (n in nm) {
    est <- x[[paste0(n, "_estimate")]]
    lo <- x[[paste0(n, "_ci_lower")]]
    hi <- x[[paste0(n, "_ci_upper")]]
    idf <- x[[paste0(n, "_identified")]]
    tab[[n]] <- paste0(fmt(est), ifelse(!is.na(idf) & !idf, "*", ""),
                       ifelse(is.na(lo), "", paste0(" [", fmt(lo), ", ", fmt(hi), "]")))
    tab[[n]][is.na(est)] <- ""
  }
  names(tab)[1] <- ""
  print(tab, row.names = FALSE, right = FALSE)
  if (any(!unlist(x[paste0(nm, "_identified")]), na.rm = TRUE)) {
    cat("* not identified from the observed distribution (rests on the monotone-noise assumption)\n")
  }
  invisible(x)
}

#' @rdname plot.medflow_effects
#' @export
plot.medflow_comparison <- function(x, ...) {
  nm <- attr(x, "result_names")
  long <- do.call(rbind, lapply(nm, function(n) {
    idf <- x[[paste0(n, "_identified")]]
    data.frame(label = x$label, group = n, estimate = x[[paste0(n, "_estimate")]],
               lower = x[[paste0(n, "_ci_lower")]], upper = x[[paste0(n, "_ci_upper")]],
               identified = ifelse(!is.na(idf) & !idf, "no (assumption)", "yes"),
               stringsAsFactors = FALSE)
  }))
  long <- long[!is.na(long$estimate), , drop = FALSE]
  forest_plot(long, scale = attr(x, "scale"), outcome = attr(x, "outcome"), legend = "result")
}
