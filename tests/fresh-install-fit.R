# Run by tests/run-r-tests.sh in a new R process after install_medflow() in a
# fresh HOME: medflow must find its environment without RETICULATE_PYTHON and fit.
library(medflow)
stopifnot(identical(Sys.getenv("RETICULATE_PYTHON"), ""))
if (!medflow_available()) stop("medflow is not available after install_medflow(): ",
                               reticulate::py_config()$python)
py <- reticulate::py_config()$python
# the environment's bin/python (a symbolic link to its base Python: compare folders)
stopifnot(startsWith(normalizePath(dirname(py), mustWork = FALSE),
                     normalizePath(file.path(Sys.getenv("HOME"), ".virtualenvs", "r-medflow"))))
set.seed(1)
n <- 400
X <- rnorm(n)
M <- 0.5 * X + rnorm(n, sd = 0.8)
Y <- 0.4 * M + 0.2 * X + rnorm(n, sd = 0.7)
fit <- medflow("M ~ X; Y ~ X + M", data.frame(X = X, M = M, Y = Y), epochs = 3, seed = 1,
               verbose = FALSE)
print(fit)
eff <- effects(fit, "X", "Y", mediators = "M", a = 1, a_ref = 0)
print(eff)
te <- eff$estimate[eff$label == "TE"]
# true total effect per unit of X: 0.2 + 0.5 * 0.4 = 0.4; N = 400, 3 epochs
if (!is.finite(te) || abs(te - 0.4) > 0.2) stop("total effect ", te, " is far from 0.4")
ver <- as.character(reticulate::import("medflow")$`__version__`)
stopifnot(identical(ver, as.character(utils::packageVersion("medflow"))))
cat("fresh install: fit and effects from a new R process OK (Python ", py, ")\n", sep = "")
