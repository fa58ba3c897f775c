#' Fit a causal-graphical normalizing flow
#'
#' Fits one monotone normalizing flow per node of a causal graph (a DAG) to
#' the data by maximum likelihood, through the Python package `medflow`. The
#' fitted model answers causal questions: [effects()], [path_effects()],
#' [decompose_effect()], [dose_response()], [counterfactual()] and [simulate()].
#'
#' Arguments are checked in R before Python is started; everything is passed
#' to Python by name.
#'
#' @param model The causal graph: lavaan-style syntax such as
#'   `"U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"` (`~` for the parents of a
#'   variable, `~~` for correlated exogenous variables), a two-column edge
#'   list (parent, child) or a square adjacency matrix with variable names
#'   (rows are causes, columns effects).
#' @param data A data.frame with one numeric (or logical) column per model
#'   variable; other columns are ignored.
#' @param ... Architecture settings passed by name to Python's `CausalFlow`
#'   (for example `hidden = 32`, `depth = 2`, `bins = 8`, `layers = 1`,
#'   `learn_linear = TRUE`; `hidden`, `depth`, `bins` and `layers` are whole
#'   numbers). Settings of the training, such as `patience`, go in
#'   `control =`.
#' @param discrete,continuous Optional character vectors naming variables to
#'   treat as discrete or continuous. By default few-valued columns are
#'   discrete, whatever their coding: columns whose values lie on an equally
#'   spaced grid (0/1, -0.5/0.5, a z-scored binary variable, integer scores)
#'   with at most twice as many grid points as distinct values, or with at
#'   most 100 grid points; and columns with at most 10 distinct values off
#'   such a grid (e.g. 0, 1, 3.71), whose sorted values are mapped to
#'   ordered levels inside the flow (results stay in the data's values).
#'   `discrete =` also accepts a column with up to 100 distinct values off a
#'   grid (mapped to levels).
#' @param missing `"error"` (default) or `"drop"` rows with missing values in
#'   a model variable.
#' @param members Number of flows in the cross-fitted ensemble (each is
#'   trained on all rows but one of `members` folds; effects average over
#'   them). `NULL` (default) uses the Python package's choice (5, or 10 below
#'   5,000 rows); `1` fits a
#'   single flow, faster but its effects move with `seed`.
#' @param epochs,batch_size,lr Passes over the data, minibatch size and
#'   learning rate; `NULL` (default) lets the Python package choose them from
#'   the data (`medflow.training.TrainSettings.auto`), the same choice the
#'   command line and Python make. The chosen values are in `fit$settings`.
#' @param seed Seed of every random choice of the fit (a whole number); the
#'   same seed gives the same fit.
#' @param device `"cpu"` or `"cuda"`.
#' @param verbose Show a progress bar (only on a terminal or in an
#'   interactive session, never in a log file).
#' @param control Optional named list of further settings of Python's
#'   `CausalFlow.fit()` (for example `patience`, the number of epochs without
#'   improvement of a member's held-out likelihood before it stops,
#'   `weight_decay`, `linear_nodes`, `dtype`).
#' @return An object of class `medflow_fit`: a list with the Python model
#'   (`py`) and plain R copies of the model syntax, variables, training
#'   history (`history`) and fit information.
#' @seealso [effects()], [linear_sem()], [save_medflow()]
#' @examples
#' \dontrun{
#' fit <- medflow("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", blau_duncan,
#'                epochs = 50, seed = 1)
#' fit
#' effects(fit, treatment = "X", outcome = "Y", mediators = "W")
#' summary(fit)   # how the fit ended and the linearity check
#' }
#' @export
medflow <- function(model, data, ..., discrete = NULL, continuous = NULL,
                    missing = c("error", "drop"), members = NULL, epochs = NULL,
                    batch_size = NULL, lr = NULL,
                    seed = 0, device = "cpu", verbose = TRUE, control = list()) {
  cl <- match.call()
  spec <- check_model(model)
  check_data(data, spec$vars)
  check_names_vector(discrete, "discrete")
  check_names_vector(continuous, "continuous")
  for (arg in c("discrete", "continuous")) {
    unknown <- setdiff(get(arg), spec$vars)
    if (length(unknown)) {
      abort(arg, " = names ", paste(unknown, collapse = ", "),
            ", which are not variables of the model.")
    }
  }
  missing <- match.arg(missing)
  if (!is.null(members)) members <- check_count(members, "members", min = 1)
  if (!is.null(epochs)) epochs <- check_count(epochs, "epochs", min = 1)
  if (!is.null(batch_size)) batch_size <- check_count(batch_size, "batch_size", min = 1)
  if (!is.null(lr)) {
    check_number(lr, "lr")
    if (lr <= 0 || lr > 1) abort(sprintf("lr = must be a positive number of at most 1 (AdamW's step size), not %s.", format(lr)))
  }
  seed <- check_count(seed, "seed")
  check_choice(device, "device", c("cpu", "cuda"))
  check_flag(verbose, "verbose")
  config <- check_dots_named(list(...), "medflow")
  # Whole-number settings go to Python as integers (R numbers are doubles).
  for (nm in intersect(names(config), c("hidden", "depth", "bins", "layers"))) {
    config[[nm]] <- check_count(config[[nm]], nm, min = if (nm == "bins") 2 else 1)
  }
  if (!is.list(control) || (length(control) && (is.null(names(control)) || any(!nzchar(names(control)))))) {
    abort("control = must be a named list of settings for the fit, e.g. list(patience = 20).")
  }
  if (!is.null(control$patience)) control$patience <- check_count(control$patience, "control$patience", min = 1)
  mf <- medflow_module()
  flow_args <- c(list(model = model_to_py(spec), data = r_frame_to_py(data, spec$vars),
                      discrete = py_list(discrete), continuous = py_list(continuous),
                      missing = missing), config)
  flow <- py_try(do.call(mf$CausalFlow, flow_args))
  note_discrete(flow, discrete)
  fit_args <- c(py_args(members = members, epochs = epochs, batch_size = batch_size, lr = lr, seed = seed,
                        device = device, verbose = verbose), control)
  fitted <- py_call_named(flow, "fit", fit_args)
  new_medflow_fit(fitted, call = cl)
}

# The model in the form the Python side accepts.
model_to_py <- function(spec) {
  switch(
    spec$kind,
    syntax = spec$value,
    edges = reticulate::r_to_py(lapply(seq_len(nrow(spec$value)), function(i) {
      reticulate::tuple(spec$value[i, 1], spec$value[i, 2])
    })),
    adjacency = r_matrix_to_py(spec$value)
  )
}

# Build the R object around a Python FittedFlow, copying everything printable
# into plain R values (so print() works after the Python object is gone).
new_medflow_fit <- function(py, call = NULL) {
  enc <- py$encoding
  info <- py_value(py$fit_info)
  structure(list(
    py = py,
    model = py_value(py$dag$to_syntax()),
    variables = as.character(py_value(py$variables)),
    discrete = as.character(unlist(py_value(enc$discrete))),
    n = py_n_rows(py$data),
    history = py_frame_to_r(py$history),
    fit_info = info[setdiff(names(info), c("settings", "linearity", "folds_of_rows"))],
    linearity = py_frame_to_r(py$linearity()),
    settings = info$settings,
    call = call
  ), class = "medflow_fit")
}

py_len_frame <- function(x) x$shape[0]

# Rows of the fitted data, NA for a model saved without them.
py_n_rows <- function(x) {
  if (inherits(x, "python.builtin.NoneType")) return(NA_integer_)
  as.integer(py_value(py_len_frame(x)))
}

# The live Python object of a fit, or a clear error if it is gone.
live_py <- function(object, what = "object") {
  if (inherits(object, "medflow_sem")) return(sem_py(object))
  if (py_dead(object$py)) {
    abort(what, " = refers to a Python model that no longer exists (R objects holding Python ",
          "models do not survive saveRDS() or a restart). Save fits with save_medflow() and ",
          "read them with load_medflow().")
  }
  object$py
}

#' @export
print.medflow_fit <- function(x, ...) {
  cat("Causal-graphical normalizing flow (medflow)\n")
  cat("Model:\n")
  cat(paste0("  ", strsplit(x$model, "\n", fixed = TRUE)[[1]]), sep = "\n")
  disc <- x$variables %in% x$discrete
  cat(sprintf("N = %d; variables: %s\n", x$n,
              if (length(disc) && all(disc)) paste0(paste(x$variables, collapse = ", "), " (all discrete)")
              else paste0(x$variables, ifelse(disc, " (discrete)", ""), collapse = ", ")))
  if (!is.null(x$fit_info$epochs_run)) {
    cat(sprintf("Cross-fitted ensemble of %d flow(s), %d epochs, seed %s%s\n",
                as.integer(x$fit_info$members), as.integer(x$fit_info$epochs_run),
                format(x$fit_info$seed),
                if (isTRUE(x$fit_info$converged)) "" else " (did NOT converge)"))
    lin <- unlist(x$fit_info$linear_nodes)
    if (length(lin)) cat(sprintf("Linear-Gaussian equations (no held-out gain from a flow): %s\n",
                                 paste(lin, collapse = ", ")))
  }
  if (py_dead(x$py)) {
    cat("The Python model is not available in this session (use save_medflow()/load_medflow()).\n")
  }
  invisible(x)
}

#' Summarise a fitted flow
#'
#' @param object,x A `medflow_fit` object from [medflow()].
#' @param ... Unused.
#' @return `summary()` returns a `summary.medflow_fit` object: how the fit
#'   ended (convergence, epochs, settings), the model, the variables and the
#'   linearity check (per node, the cross-validated held-out log-likelihood of
#'   its flow against its linear-Gaussian equation, with a standard error over
#'   folds).
#' @examples
#' \dontrun{
#' summary(medflow("Y ~ X", data.frame(X = rnorm(200), Y = rnorm(200)), epochs = 5))
#' }
#' @export
summary.medflow_fit <- function(object, ...) {
  structure(list(
    model = object$model,
    variables = data.frame(variable = object$variables,
                           type = ifelse(object$variables %in% object$discrete, "discrete", "continuous"),
                           stringsAsFactors = FALSE),
    n = object$n, fit_info = object$fit_info, settings = object$settings,
    linearity = object$linearity,
    alive = !py_dead(object$py)
  ), class = "summary.medflow_fit")
}

#' @rdname summary.medflow_fit
#' @export
print.summary.medflow_fit <- function(x, ...) {
  fi <- x$fit_info
  st <- x$settings
  failed <- unlist(fi$diverged_nodes)
  if (length(failed)) {
    cat(sprintf("medflow FAILED: the flow of %s fits held-out rows far worse than its linear-Gaussian equation (training diverged; refit with a smaller lr or linear_nodes = \"auto\"); its effects are not to be trusted\n",
                paste(failed, collapse = ", ")))
  } else {
    cat(sprintf("medflow %s after %d epochs\n",
                if (isTRUE(fi$converged)) "ended normally" else "did NOT converge",
                as.integer(fi$epochs_run)))
  }
  cat(sprintf("  Estimator      cross-fitted ensemble of %d flow(s), maximum likelihood\n",
              as.integer(fi$members)))
  cat(sprintf("  Optimiser      AdamW, cosine schedule: batch %d, lr %.3g, weight decay %g\n",
              as.integer(st$batch_size), st$lr, st$weight_decay))
  kept <- as.character(unlist(fi$best_epochs))
  avg <- as.logical(unlist(fi$averaged))
  if (length(avg) == length(kept)) kept[avg] <- "avg"
  cat(sprintf("  Kept weights   %s\n", paste(kept, collapse = ", ")))
  window <- as.integer(unlist(fi$averaged_epochs))  # absent from fits saved before averaging
  cat(if (length(window) == 2L) {
    sprintf(paste0("                 (number: best epoch on the held-out fold; avg: weights averaged over epochs %d-%d,\n",
                   "                 kept where they fit that fold better)\n"), window[1], window[2])
  } else "                 (each member's best epoch on its held-out fold)\n")
  cat(sprintf("  Observations   %d; seed %s\n", x$n, format(fi$seed)))
  cat("\nModel:\n")
  cat(paste0("  ", strsplit(x$model, "\n", fixed = TRUE)[[1]]), sep = "\n")
  cat("\nVariables:\n")
  print(x$variables, row.names = FALSE)
  lin <- x$linearity
  if (!is.null(lin) && nrow(lin)) {
    cat("\nLinearity check: held-out log-likelihood per row, flow vs linear-Gaussian\n")
    show <- data.frame(node = lin$node, parents = lin$parents,
                       flow = sprintf("%.4f", lin$flow_loglik), linear = sprintf("%.4f", lin$linear_loglik),
                       gain = sprintf("%.4f", lin$gain), s.e. = sprintf("%.4f", lin$se),
                       z = sprintf("%.1f", lin$z), equation = lin$equation, check.names = FALSE)
    print(show, row.names = FALSE)
    cat(sprintf("  gain = flow - linear (%d-fold cross-validation); z > 2: the data depart from\n",
                as.integer(fi$folds)))
    cat("  linearity. 'linear': the fit uses that node's linear-Gaussian equation.\n")
  }
  if (!x$alive) cat("The Python model is not available in this session.\n")
  invisible(x)
}

#' Unit-level counterfactuals
#'
#' For each observed row, computes the values all variables would have taken
#' under an intervention (abduction of each unit's noise, action, prediction).
#'
#' @param object A `medflow_fit` object.
#' @param data A data.frame of observed rows with all model variables.
#' @param do The intervention: a named list or named numeric vector, for
#'   example `list(X = 60)`.
#' @param seed Seed for the abduction of discrete variables.
#' @param extrapolate Allow intervention values outside the observed range
#'   (`FALSE` by default: such values are refused with an error).
#' @param ... Unused.
#' @return A data.frame with the same rows and the model variables under the
#'   intervention.
#' @examples
#' \dontrun{
#' fit <- medflow("Y ~ X", data.frame(X = rnorm(300), Y = rnorm(300)), epochs = 5)
#' counterfactual(fit, data.frame(X = 0, Y = 1), do = list(X = 1))
#' }
#' @export
counterfactual <- function(object, ...) UseMethod("counterfactual")

#' @rdname counterfactual
#' @export
counterfactual.medflow_fit <- function(object, data, do, seed = 0, extrapolate = FALSE, ...) {
  check_data(data, object$variables)
  do <- check_do(do, object$variables)
  seed <- check_count(seed, "seed")
  check_flag(extrapolate, "extrapolate")
  py <- live_py(object)
  out <- py_call_named(py, "counterfactual", list(
    data = r_frame_to_py(data, object$variables), do = reticulate::dict(do), seed = seed,
    extrapolate = extrapolate))
  res <- py_frame_to_r(out$reset_index(drop = TRUE))
  rownames(res) <- rownames(data)
  res
}

check_do <- function(do, vars) {
  if (is.numeric(do) && !is.null(names(do))) do <- as.list(do)
  if (!is.list(do) || !length(do) || is.null(names(do)) || any(!nzchar(names(do)))) {
    abort("do = must be a named list of values, e.g. do = list(X = 60).")
  }
  unknown <- setdiff(names(do), vars)
  if (length(unknown)) {
    abort("do = names ", paste(unknown, collapse = ", "), ", which are not variables of the model.")
  }
  for (nm in names(do)) check_number(do[[nm]], sprintf("do$%s", nm))
  lapply(do, as.numeric)
}

#' Draw from a fitted flow
#'
#' Simulates units from the fitted observational model or, with `do =`, from
#' the model under an intervention.
#'
#' @param object A `medflow_fit` object.
#' @param nsim Number of units to draw.
#' @param seed Seed (a whole number).
#' @param do Optional intervention, a named list such as `list(X = 60)`.
#' @param extrapolate Allow intervention values outside the observed range
#'   (`FALSE` by default: such values are refused with an error).
#' @param ... Unused.
#' @return A data.frame with `nsim` rows and one column per model variable.
#' @examples
#' \dontrun{
#' simulate(fit, nsim = 1000, do = list(X = 60))
#' }
#' @importFrom stats simulate
#' @export
simulate.medflow_fit <- function(object, nsim = 1, seed = 0, do = NULL, extrapolate = FALSE, ...) {
  nsim <- check_count(nsim, "nsim", min = 1)
  seed <- check_count(seed, "seed")
  check_flag(extrapolate, "extrapolate")
  if (!is.null(do)) do <- reticulate::dict(check_do(do, object$variables))
  py <- live_py(object)
  py_frame_to_r(py_call_named(py, "sample", py_args(n = nsim, do = do, seed = seed,
                                                    extrapolate = extrapolate)))
}

#' Save and load fitted flows
#'
#' A fitted flow holds a Python object, which [saveRDS()] cannot store.
#' `save_medflow()` writes the model to a folder (weights and a JSON
#' description, no pickled code) and `load_medflow()` reads it back.
#' The folder records a format version and a checksum; `load_medflow()`
#' refuses a damaged or edited model with an error naming the file.
#'
#' By default the data the model was fitted on are not saved (microdata
#' often may not be redistributed). A model loaded without them answers
#' effect queries given `data =`, or given `n_mc =` (it then averages over
#' draws from the fitted model, which also give the default contrast).
#'
#' @param object A `medflow_fit` object.
#' @param path A folder to write to or read from.
#' @param include_data Also save the rows the model was fitted on
#'   (`FALSE` by default).
#' @return `save_medflow()` returns `path` invisibly; `load_medflow()` a
#'   `medflow_fit` object.
#' @examples
#' \dontrun{
#' save_medflow(fit, "bd-flow")
#' fit2 <- load_medflow("bd-flow")
#' }
#' @export
save_medflow <- function(object, path, include_data = FALSE) {
  if (!inherits(object, "medflow_fit")) {
    abort("object = must be a fitted flow from medflow(), not ", describe(object), ".")
  }
  check_path(path)
  check_flag(include_data, "include_data")
  py <- live_py(object)
  py_call_named(py, "save", list(path = path.expand(path), include_data = include_data))
  invisible(path)
}

#' @rdname save_medflow
#' @export
load_medflow <- function(path) {
  check_path(path)
  if (!dir.exists(path)) abort("path = '", path, "' is not a folder written by save_medflow().")
  mf <- medflow_module()
  py <- py_call_named(mf, "load", list(path = normalizePath(path)))
  new_medflow_fit(py, call = NULL)
}

check_path <- function(path) {
  if (!is.character(path) || length(path) != 1L || is.na(path) || !nzchar(path)) {
    abort("path = must be one folder path (a character string), not ", describe(path), ".")
  }
  invisible(path)
}
