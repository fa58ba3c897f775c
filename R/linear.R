#' Fit a linear structural equation model (path analysis)
#'
#' The classical linear path model on the same causal graph as [medflow()]:
#' one least-squares regression per endogenous variable, fitted from raw data
#' or from a correlation (or covariance) matrix and the sample size. Effects
#' are traced along the directed paths of the graph, with the same functions
#' and the same effects table as the flow: [effects()], [path_effects()],
#' [decompose_effect()]; [decomposition_table()] gives the classical decomposition of
#' an association.
#'
#' @param model The causal graph, as for [medflow()].
#' @param data A data.frame with one numeric column per model variable.
#' @param cor,cov Instead of `data`: a correlation or covariance matrix with
#'   the variable names as row and column names.
#' @param n The number of observations behind `cor =` or `cov =`. Defaults to
#'   the matrix's `"n"` attribute when it has one (as [blau_duncan_cor] does).
#' @param means Optional named numeric vector of means (with `cor =` or
#'   `cov =`); without it intercepts are not estimated.
#' @param df_correction Estimate residual variances by RSS/(N - k) (OLS, the
#'   default); `FALSE` uses RSS/N, the maximum-likelihood estimate reported by
#'   `lavaan::sem()`.
#' @param missing With `data =`: `"error"` (default) refuses missing values,
#'   `"drop"` drops incomplete rows with a warning that counts them, as in
#'   [medflow()].
#' @return An object of class `medflow_sem`: a list with the Python results
#'   (`py`) and plain R copies of the parameter table (`params`, lavaan-like
#'   columns `lhs`, `op`, `rhs`, `est`, `se`, `z`, `pvalue`, `std_all`),
#'   `rsquared` and `residual_paths`.
#' @seealso [effects()], [blau_duncan_cor]
#' @examples
#' \dontrun{
#' sem <- linear_sem("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", cor = blau_duncan_cor)
#' summary(sem)
#' effects(sem, "X", "Y", mediators = "W", a = 1, a_ref = 0)
#' }
#' @export
linear_sem <- function(model, data = NULL, cor = NULL, cov = NULL, n = NULL, means = NULL,
                       df_correction = TRUE, missing = c("error", "drop")) {
  cl <- match.call()
  spec <- check_model(model)
  missing_given <- !base::missing(missing)
  missing <- match.arg(missing)
  given <- c(data = !is.null(data), cor = !is.null(cor), cov = !is.null(cov))
  if (sum(given) != 1L) {
    abort("Give exactly one of data =, cor = (with n =) or cov = (with n =)",
          if (sum(given) > 1L) paste0("; got ", paste0(names(given)[given], " =", collapse = " and ")), ".")
  }
  check_flag(df_correction, "df_correction")
  if (given[["data"]]) {
    check_data(data, spec$vars)
    if (!is.null(n)) abort("n = is only used with cor = or cov =; with data = N is nrow(data).")
    if (!is.null(means)) abort("means = is only used with cor = or cov =.")
    recipe <- list(kind = "data", model = spec, data = as.data.frame(data)[spec$vars],
                   df_correction = df_correction, missing = missing)
  } else {
    if (missing_given) abort("missing = is only used with data =.")
    arg <- if (given[["cor"]]) "cor" else "cov"
    m <- check_moment_matrix(if (given[["cor"]]) cor else cov, arg, spec$vars)
    if (arg == "cor" && any(abs(diag(m) - 1) > 1e-8)) {
      abort("cor = must have ones on its diagonal (use cov = for a covariance matrix).")
    }
    if (is.null(n)) n <- attr(if (given[["cor"]]) cor else cov, "n")
    if (is.null(n)) abort("n = (the number of observations) is needed with ", arg, " =.")
    n <- check_count(n, "n", min = 1)
    if (!is.null(means)) {
      if (!is.numeric(means) || is.null(names(means)) || anyNA(means)) {
        abort("means = must be a named numeric vector of the variables' means.")
      }
      absent <- setdiff(spec$vars, names(means))
      if (length(absent)) abort("means = lacks the model variable(s) ", paste(absent, collapse = ", "), ".")
    }
    recipe <- list(kind = "moments", model = spec, matrix = m, n = n, means = means,
                   df_correction = df_correction)
  }
  py <- fit_sem_py(recipe)
  new_medflow_sem(py, recipe, cl)
}

check_moment_matrix <- function(m, arg, vars) {
  if (is.data.frame(m)) m <- as.matrix(m)
  if (!is.matrix(m) || !is.numeric(m) || nrow(m) != ncol(m)) {
    abort(arg, " = must be a square numeric matrix, not ", describe(m), ".")
  }
  if (is.null(rownames(m)) || is.null(colnames(m)) || !identical(rownames(m), colnames(m))) {
    abort(arg, " = needs the same variable names, in the same order, as row and column names.")
  }
  absent <- setdiff(vars, colnames(m))
  if (length(absent)) {
    abort(arg, " = has no row and column for ", paste(absent, collapse = ", "), " (used in model =).")
  }
  if (anyNA(m) || any(!is.finite(m))) abort(arg, " = has missing or non-finite entries.")
  if (!isSymmetric(unname(m), tol = 1e-8)) abort(arg, " = is not symmetric.")
  attributes(m) <- list(dim = dim(m), dimnames = dimnames(m))
  m
}

fit_sem_py <- function(recipe) {
  mf <- medflow_module()
  model <- model_to_py(recipe$model)
  sem <- if (recipe$kind == "data") {
    py_try(mf$LinearSEM(model = model, data = r_frame_to_py(recipe$data),
                        missing = if (is.null(recipe$missing)) "error" else recipe$missing))
  } else {
    frame <- r_matrix_to_py(recipe$matrix)
    means <- if (!is.null(recipe$means)) reticulate::dict(as.list(recipe$means))
    py_try(mf$LinearSEM$from_moments(model = model, cov_or_corr = frame, n = recipe$n, means = means))
  }
  py_call_named(sem, "fit", list(df_correction = recipe$df_correction))
}

new_medflow_sem <- function(py, recipe, call = NULL) {
  rsq <- py_series_to_r(py$rsquared)
  structure(list(
    py = py,
    recipe = recipe,
    model = py_value(py$dag$to_syntax()),
    variables = as.character(unlist(py_value(py$dag$order))),
    n = as.integer(py_value(py$n)),
    source = py_value(py$source),
    params = py_frame_to_r(py$params),
    rsquared = rsq,
    residual_paths = sqrt(1 - rsq),
    root_correlations = py_series_to_r(py$root_correlations),
    call = call
  ), class = "medflow_sem")
}

py_series_to_r <- function(s) {
  idx <- as.character(unlist(py_value(s$index$tolist())))
  vals <- as.numeric(unlist(py_value(s$tolist())))
  stats::setNames(vals, idx)
}

# A live Python results object for a linear SEM: refitted from the stored
# recipe when the original one is gone (e.g. after readRDS()).
sem_py <- function(object) {
  if (py_dead(object$py)) fit_sem_py(object$recipe) else object$py
}

#' @export
print.medflow_sem <- function(x, ...) {
  cat(sprintf("Linear structural equation model (path analysis), %s, N = %d\n", x$source, x$n))
  cat(paste0("  ", strsplit(x$model, "\n", fixed = TRUE)[[1]]), sep = "\n")
  slopes <- x$params[x$params$op == "~", , drop = FALSE]
  cat("Standardized path coefficients:\n")
  print(stats::setNames(round(slopes$std_all, 3), paste(slopes$lhs, "~", slopes$rhs)))
  invisible(x)
}

#' Summarise a linear structural equation model
#'
#' @param object,x A `medflow_sem` object from [linear_sem()].
#' @param digits Significant digits to print.
#' @param ... Unused.
#' @return `coef()` returns the path coefficients named `"Y ~ X"`.
#'   `summary()` returns a `summary.medflow_sem` object with one
#'   coefficient matrix per equation (estimate, standard error, z, p-value,
#'   standardized coefficient), the R-squared and residual path of each
#'   equation and the correlations of correlated roots.
#' @examples
#' \dontrun{
#' summary(linear_sem("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", cor = blau_duncan_cor))
#' }
#' @export
summary.medflow_sem <- function(object, ...) {
  p <- object$params
  eqs <- lapply(names(object$rsquared), function(lhs) {
    sub <- p[p$lhs == lhs & p$op %in% c("~", "~1"), , drop = FALSE]
    m <- cbind(sub$est, sub$se, sub$z, sub$pvalue, sub$std_all)
    dimnames(m) <- list(ifelse(sub$op == "~", sub$rhs, "(Intercept)"),
                        c("Estimate", "Std. Error", "z value", "Pr(>|z|)", "Std.all"))
    m
  })
  names(eqs) <- names(object$rsquared)
  structure(list(model = object$model, source = object$source, n = object$n, equations = eqs,
                 rsquared = object$rsquared, residual_paths = object$residual_paths,
                 root_correlations = object$root_correlations,
                 df_correction = object$recipe$df_correction),
            class = "summary.medflow_sem")
}

#' @rdname summary.medflow_sem
#' @export
print.summary.medflow_sem <- function(x, digits = max(3L, getOption("digits") - 3L), ...) {
  cat(sprintf("Linear structural equation model (path analysis) from %s, N = %d\n", x$source, x$n))
  cat(sprintf("Least squares equation by equation (residual variance %s); p-values from N(0, 1).\n",
              if (isTRUE(x$df_correction)) "RSS/(N - k)" else "RSS/N, as lavaan's ML"))
  for (lhs in names(x$equations)) {
    cat(sprintf("\nRegression of %s (R-squared %.3f, residual path %.3f):\n", lhs,
                x$rsquared[[lhs]], x$residual_paths[[lhs]]))
    cat(coef_lines(x$equations[[lhs]], digits), sep = "\n")
  }
  if (length(x$root_correlations)) {
    cat("\nCorrelated roots: ",
        paste(sprintf("%s r = %.3f", names(x$root_correlations), x$root_correlations), collapse = ", "),
        "\n", sep = "")
  }
  invisible(x)
}

# The lines of one equation's table: estimate, standard error, z and p-value
# through printCoefmat() (the p-value must be its last column), then the
# standardized coefficient as a plain number in a column of its own.
coef_lines <- function(m, digits) {
  main <- utils::capture.output(
    stats::printCoefmat(m[, c("Estimate", "Std. Error", "z value", "Pr(>|z|)"), drop = FALSE],
                        digits = digits, cs.ind = 1:2, tst.ind = 3L, has.Pvalue = TRUE,
                        P.values = TRUE, signif.stars = FALSE, na.print = "."))
  std <- ifelse(is.na(m[, "Std.all"]), ".", formatC(m[, "Std.all"], digits = 3, format = "f"))
  std <- formatC(c("Std.all", std), width = max(7L, nchar(std)))
  paste(main[seq_along(std)], std)
}

#' @rdname summary.medflow_sem
#' @param standardized For `coef()`: return the standardized coefficients.
#' @export
coef.medflow_sem <- function(object, standardized = FALSE, ...) {
  p <- object$params[object$params$op == "~", , drop = FALSE]
  stats::setNames(if (isTRUE(standardized)) p$std_all else p$est, paste(p$lhs, "~", p$rhs))
}

#' Decomposition of an association in a linear path model
#'
#' The classical decomposition of the association between two variables
#' into the total effect, indirect effects through each intervening variable
#' (in causal order), the direct effect and the non-causal remainder.
#'
#' @param object A `medflow_sem` object from [linear_sem()].
#' @param cause,effect Variable names.
#' @param standardized Standardized (correlation) scale, the default, or
#'   unstandardized.
#' @return A data.frame with columns `component`, `estimate` and `paths`.
#' @examples
#' \dontrun{
#' sem <- linear_sem("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", cor = blau_duncan_cor)
#' decomposition_table(sem, "X", "Y")
#' }
#' @export
decomposition_table <- function(object, cause, effect, standardized = TRUE) {
  if (!inherits(object, "medflow_sem")) {
    abort("object = must be a linear SEM from linear_sem(), not ", describe(object), ".")
  }
  check_variable(cause, "cause", object$variables)
  check_variable(effect, "effect", object$variables)
  check_flag(standardized, "standardized")
  out <- py_call_named(sem_py(object), "decomposition_table",
                       list(cause = cause, effect = effect, standardized = standardized))
  py_frame_to_r(out, index = "component")
}
