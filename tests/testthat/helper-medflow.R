# Shared helpers for the medflow tests.

# Skip a test when the Python side (Python with the module medflow) is not
# available. In CI RETICULATE_PYTHON points at the project's virtualenv, so
# these tests run there.
skip_if_no_medflow <- function() {
  if (!medflow::medflow_available()) {
    testthat::skip("Python module 'medflow' not available (set RETICULATE_PYTHON)")
  }
}

bd_model <- "U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"

# A linear-Gaussian SCM on the Blau-Duncan graph with known coefficients;
# the effect of X on Y per unit of X is known in closed form.
bd_coef <- list(uv = 0.3, ux = 0.3, wu = 0.45, wx = 0.2, yu = 0.4, yx = 0.1, yw = 0.3)
simulate_bd <- function(n, seed) {
  old <- if (exists(".Random.seed", envir = globalenv())) get(".Random.seed", envir = globalenv())
  on.exit(if (!is.null(old)) assign(".Random.seed", old, envir = globalenv()))
  set.seed(seed)
  b <- bd_coef
  V <- stats::rnorm(n)
  X <- 0.5 * V + sqrt(0.75) * stats::rnorm(n)
  U <- b$uv * V + b$ux * X + stats::rnorm(n, sd = 0.8)
  W <- b$wu * U + b$wx * X + stats::rnorm(n, sd = 0.8)
  Y <- b$yu * U + b$yx * X + b$yw * W + stats::rnorm(n, sd = 0.7)
  data.frame(V = V, X = X, U = U, W = W, Y = Y)
}
# Per unit of X: total, through W (X -> W -> Y, X -> U -> W -> Y), not through W.
bd_truth <- with(bd_coef, list(
  te = ux * yu + ux * wu * yw + wx * yw + yx,
  nie_w = ux * wu * yw + wx * yw,
  nde_w = ux * yu + yx
))

# A fitted-flow stand-in without Python, for argument checks that run before
# Python is reached.
fake_fit <- function(vars = c("V", "X", "U", "W", "Y")) {
  structure(list(py = NULL, variables = vars, discrete = character(), n = 100L,
                 model = bd_model, history = data.frame(), fit_info = list()),
            class = "medflow_fit")
}

extdata <- function(file) system.file("extdata", file, package = "medflow", mustWork = TRUE)
