# Methods for fitted flows beyond print/summary: nobs(), coef() (the linear
# part of each structural equation), predict() (conditional means) and plot()
# (the causal graph and the training curve), and the notice about variables
# treated as discrete.

# Tell the user which variables medflow() treats as discrete without being
# asked (few-valued columns), and how to change it.
note_discrete <- function(flow, discrete = NULL) {
  enc <- flow$encoding
  chosen <- as.character(unlist(py_value(enc$discrete)))
  auto <- setdiff(chosen, discrete)
  if (length(auto)) {
    variables <- as.character(unlist(py_value(enc$variables)))
    levels <- py_value(enc$levels)
    mapped <- auto[vapply(auto, function(v) length(unlist(levels[[match(v, variables)]])) > 0L, logical(1))]
    grid <- setdiff(auto, mapped)
    parts <- character()
    if (length(grid)) {
      parts <- c(parts, sprintf(
        "%s as discrete because %s on an equally spaced grid such as whole numbers (the flow models them on that grid)",
        paste(grid, collapse = ", "), if (length(grid) > 1L) "their values all lie" else "its values all lie"))
    }
    if (length(mapped)) {
      parts <- c(parts, sprintf(
        "%s as discrete because %s few distinct values (mapped to ordered levels inside the flow; results stay in the data's values)",
        paste(mapped, collapse = ", "), if (length(mapped) > 1L) "they have" else "it has"))
    }
    message(sprintf("Treating %s. To model %s as continuous, add continuous = %s.",
                    paste(parts, collapse = "; and "), if (length(auto) > 1L) "them" else "it",
                    deparse1(auto)))
  }
  invisible(auto)
}

#' Methods for fitted flows
#'
#' `nobs()` gives the number of rows the flow was fitted on; `coef()` the
#' linear part of each structural equation (the location `b * parents + c`
#' that the flow starts from, the least-squares fit, and on which its spline
#' adds departures), named like `"Y ~ X"`; `predict()` the conditional mean of
#' a node given its parents, `E[node | parents]`, averaged over the node's
#' noise; `plot()` draws the causal graph and the training curve.
#'
#' `coef()` shows only the linear part of a nonlinear model: use [effects()]
#' for causal effects. Correlated roots (`V ~~ X`) appear as the edge by which
#' the flow models them (`"X ~ V"`). A fitted ensemble's values are averages
#' over its members.
#'
#' @param object,x A `medflow_fit` object from [medflow()].
#' @param standardized For `coef()`: coefficients on the standardized scale
#'   (per standard deviation of parent and child) instead of the data's units.
#' @param newdata For `predict()`: a data.frame with the parents of `node`;
#'   `NULL` (the default) uses the rows the flow was fitted on.
#' @param node For `predict()`: the variable to predict; by default the last
#'   variable in causal order (the outcome of a mediation model).
#' @param n_mc For `predict()`: draws of the node's noise per row.
#' @param seed For `predict()`: seed of those draws.
#' @param which For `plot()`: `"dag"`, `"training"` or both (the default,
#'   side by side).
#' @param ... Unused.
#' @return `nobs()`: an integer. `coef()`: a named numeric vector.
#'   `predict()`: a numeric vector with one value per row of `newdata`.
#'   `plot()`: invisibly, a list with the node positions of the graph
#'   (`layout`, a data.frame) and the training curve drawn (`curve`).
#' @examples
#' \dontrun{
#' fit <- medflow("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", blau_duncan, seed = 1)
#' nobs(fit)
#' coef(fit)
#' predict(fit, data.frame(X = c(11, 33), U = 12, W = 40), node = "Y")
#' plot(fit)
#' }
#' @name medflow_fit-methods
#' @aliases nobs predict
NULL

#' @rdname medflow_fit-methods
#' @importFrom stats nobs
#' @export
nobs.medflow_fit <- function(object, ...) object$n

#' @rdname medflow_fit-methods
#' @export
coef.medflow_fit <- function(object, standardized = FALSE, ...) {
  check_flag(standardized, "standardized")
  py <- live_py(object)
  np <- reticulate::import("numpy", convert = FALSE)
  flow <- py_try(py$`_require_fitted`())
  as_r <- function(t) py_value(np$asarray(t, dtype = "float64")$tolist())
  w <- as_r(flow$weight$detach()$double()$mean(0L)$cpu()$numpy())
  mask <- as_r(flow$mask$cpu()$numpy())
  scale <- as.numeric(unlist(as_r(py$encoding$scale)))
  vars <- object$variables
  d <- length(vars)
  w <- matrix(unlist(w), d, d, byrow = TRUE)
  mask <- matrix(unlist(mask), d, d, byrow = TRUE)
  out <- numeric()
  for (j in seq_len(d)) {
    for (k in which(mask[j, ] > 0)) {
      b <- if (standardized) w[j, k] else w[j, k] * scale[j] / scale[k]
      out[paste(vars[j], "~", vars[k])] <- b
    }
  }
  out
}

#' @rdname medflow_fit-methods
#' @export
predict.medflow_fit <- function(object, newdata = NULL, node = NULL, n_mc = 256, seed = 0, ...) {
  vars <- object$variables
  if (is.null(node)) node <- vars[length(vars)]
  check_variable(node, "node", vars)
  n_mc <- check_count(n_mc, "n_mc", min = 1)
  seed <- check_count(seed, "seed")
  py <- live_py(object)
  if (is.null(newdata)) {
    data <- py$data
  } else {
    if (!is.data.frame(newdata)) abort("newdata = must be a data.frame, not ", describe(newdata), ".")
    cols <- intersect(names(newdata), vars)
    check_data(newdata, cols, arg = "newdata")
    data <- r_frame_to_py(newdata, cols)
  }
  pred <- reticulate::import("medflow.conditional", convert = FALSE)
  out <- py_try(pred$conditional_mean(py, node, data, n_mc = n_mc, seed = seed))
  as.numeric(unlist(py_value(out$tolist())))
}

#' @rdname medflow_fit-methods
#' @export
plot.medflow_fit <- function(x, which = c("dag", "training"), ...) {
  which <- match.arg(which, several.ok = TRUE)
  if (length(which) == 2L) {
    old <- graphics::par(mfrow = c(1L, 2L))
    on.exit(graphics::par(old), add = TRUE)
  }
  out <- list(layout = NULL, curve = NULL)
  if ("dag" %in% which) out$layout <- draw_dag(x$model)
  if ("training" %in% which) out$curve <- draw_training(x$history, x$fit_info$best_epoch)
  invisible(out)
}

# Edges (parent, child) and correlated pairs of lavaan-style syntax.
graph_of <- function(model) {
  spec <- parse_syntax(model)
  list(vars = spec$vars, edges = spec$edges, cors = spec$cors)
}

# Nodes in columns by their longest distance from a root, spread vertically.
dag_layout <- function(vars, edges) {
  depth <- stats::setNames(rep(0L, length(vars)), vars)
  if (!is.null(edges) && nrow(edges)) {
    for (i in seq_along(vars)) {           # longest path: at most length(vars) passes
      for (e in seq_len(nrow(edges))) {
        depth[edges[e, 2]] <- max(depth[edges[e, 2]], depth[edges[e, 1]] + 1L)
      }
    }
  }
  y <- numeric(length(vars))
  for (d in unique(depth)) {
    nodes <- which(depth == d)
    y[nodes] <- (length(nodes) - 1) / 2 - (seq_along(nodes) - 1)
    if (length(nodes) == 1L && d > 0 && d < max(depth)) y[nodes] <- if (d %% 2) 0.5 else -0.5
  }
  data.frame(node = vars, x = as.numeric(depth), y = y, stringsAsFactors = FALSE)
}

draw_dag <- function(model) {
  g <- graph_of(model)
  lay <- dag_layout(g$vars, g$edges)
  pos <- function(v) unlist(lay[lay$node == v, c("x", "y")])
  graphics::plot.new()
  graphics::plot.window(xlim = range(lay$x) + c(-0.5, 0.5), ylim = range(lay$y) + c(-0.8, 0.8))
  shorten <- function(p0, p1, r = 0.18) {
    v <- p1 - p0
    len <- sqrt(sum(v^2))
    if (len == 0) return(c(p0, p1))
    c(p0 + v * r / len, p1 - v * r / len)
  }
  if (!is.null(g$edges)) {
    for (e in seq_len(nrow(g$edges))) {
      s <- shorten(pos(g$edges[e, 1]), pos(g$edges[e, 2]))
      graphics::arrows(s[1], s[2], s[3], s[4], length = 0.1)
    }
  }
  if (!is.null(g$cors)) {
    for (e in seq_len(nrow(g$cors))) {
      s <- shorten(pos(g$cors[e, 1]), pos(g$cors[e, 2]))
      graphics::arrows(s[1], s[2], s[3], s[4], length = 0.08, code = 3, lty = 2, col = "grey40")
    }
  }
  graphics::symbols(lay$x, lay$y, circles = rep(0.16, nrow(lay)), inches = FALSE, add = TRUE,
                    bg = "white")
  graphics::text(lay$x, lay$y, lay$node)
  graphics::title(main = "Causal graph", sub = if (!is.null(g$cors)) "dashed: correlated roots")
  lay
}

draw_training <- function(history, best = NULL) {
  if (!is.data.frame(history) || !nrow(history) ||
      !all(c("epoch", "train_nll", "val_nll") %in% names(history))) {
    graphics::plot.new()
    graphics::title(main = "Training curve")
    graphics::text(0.5, 0.5, "no training history")
    return(invisible(NULL))
  }
  # An ensemble's history has one row per member and epoch: draw the mean.
  curve <- stats::aggregate(history[c("train_nll", "val_nll")], by = list(epoch = history$epoch),
                            FUN = mean)
  ylim <- range(c(curve$train_nll, curve$val_nll), finite = TRUE)
  graphics::plot(curve$epoch, curve$train_nll, type = "l", ylim = ylim, xlab = "epoch",
                 ylab = "negative log-likelihood per row (nats)", main = "Training curve")
  graphics::lines(curve$epoch, curve$val_nll, lty = 2)
  if (!is.null(best) && length(best) == 1L && is.finite(best)) {
    graphics::abline(v = best, col = "grey50", lty = 3)
  }
  graphics::legend("topright", c("training", "validation", "best epoch (weights kept)"),
                   lty = c(1, 2, 3), col = c("black", "black", "grey50"), bty = "n")
  curve
}
