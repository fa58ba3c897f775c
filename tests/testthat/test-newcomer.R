# What a new user met (issue 15): installs, R-syntax messages, help pages,
# tables that fit 80 columns, and the methods of a fitted flow.

bd_effects <- function() {
  as_medflow_effects(read.csv(extdata("blau_duncan_flow_effects.csv")))
}

test_that("messages name the type with the right article", {
  expect_error(medflow(bd_model, matrix(1L, 2, 5)),
               "data = must be a data.frame, not an integer matrix.", fixed = TRUE)
  expect_error(medflow(bd_model, matrix(1, 2, 5)),
               "data = must be a data.frame, not a double matrix.", fixed = TRUE)
})

test_that("confint() takes labels, estimands and positions, and names unknown ones", {
  eff <- bd_effects()
  nie <- confint(eff, parm = "NIE")
  expect_identical(rownames(nie), c("NIE via W", "NIE via U"))
  expect_equal(unname(nie[, 1]), eff$ci_lower[eff$estimand == "NIE"])
  expect_identical(rownames(confint(eff, parm = "NIE via W")), "NIE via W")
  expect_identical(rownames(confint(eff, parm = 1:2)), eff$label[1:2])
  expect_error(confint(eff, parm = "CDE"),
               "parm = names \"CDE\", which is not an effect of this table; its labels are \"TE\"",
               fixed = TRUE)
  expect_error(confint(eff, parm = 99), "parm = positions must be whole numbers from 1 to 9.",
               fixed = TRUE)
})

test_that("summary() of a linear SEM prints Std.all as a number and p-values as p-values", {
  m <- cbind(c(0.52, -0.63), c(0.01, 0.02), c(52, -31.5), c(1e-20, 0.0312), c(0.31, -0.431))
  dimnames(m) <- list(c("V", "X"), c("Estimate", "Std. Error", "z value", "Pr(>|z|)", "Std.all"))
  s <- structure(list(model = "U ~ V + X", source = "data", n = 100L, equations = list(U = m),
                      rsquared = c(U = 0.3), residual_paths = c(U = sqrt(0.7)),
                      root_correlations = numeric(), df_correction = TRUE),
                 class = "summary.medflow_sem")
  out <- capture.output(print(s))
  x_line <- grep("^X ", out, value = TRUE)
  expect_match(x_line, "-0\\.431$")             # the standardized coefficient, as a number
  expect_match(x_line, " 0\\.0312 ")           # the real p-value
  expect_match(grep("^V ", out, value = TRUE), "<2e-16 +0\\.310$")
  expect_match(grep("Std.all", out, value = TRUE), "Pr\\(>\\|z\\|\\) Std.all$")
})

test_that("summary() and print() of effects fit in 80 columns", {
  eff <- bd_effects()
  withr_width <- options(width = 200)
  on.exit(options(withr_width))
  for (out in list(capture.output(print(summary(eff))), capture.output(print(summary(eff, scale = "sd"))),
                   capture.output(print(eff)))) {
    expect_lte(max(nchar(out)), 80L)
  }
  expect_true("Natural Indirect: X ~> W ~> Y *" %in% rownames(summary(eff)$coefficients))
})

test_that("Python messages are shown in R syntax", {
  expect_identical(
    medflow:::r_message("do(X = 99) is outside the observed range of X [0, 3]; pass extrapolate=True to allow it."),
    "do(X = 99) is outside the observed range of X [0, 3]; use extrapolate = TRUE to allow it.")
  expect_identical(
    medflow:::r_message("Remove or impute them, or pass missing='drop' to drop incomplete rows."),
    "Remove or impute them, or use missing = \"drop\" to drop incomplete rows.")
  expect_identical(medflow:::r_message("For such confounding use medflow.sensitivity()."),
                   "For such confounding use sensitivity().")
  expect_identical(medflow:::r_message("(pass names=[...])"), "(use names = c(...))")
  expect_identical(medflow:::r_message("no bootstrap (n_boot=0)"), "no bootstrap (n_boot = 0)")
})

rd_aliases <- function() {
  man <- testthat::test_path("..", "..", "man")
  db <- if (dir.exists(man)) tools::Rd_db(dir = normalizePath(file.path(man, ".."))) else
    tools::Rd_db("medflow")
  lapply(db, function(rd) unlist(lapply(rd, function(el) {
    if (identical(attr(el, "Rd_tag"), "\\alias")) as.character(el)
  })))
}

test_that("help finds medflow's pages for effects, confint, coef, nobs and predict", {
  aliases <- rd_aliases()
  topic_of <- function(alias) names(aliases)[vapply(aliases, function(a) alias %in% a, logical(1))]
  expect_identical(topic_of("effects"), "effects.medflow_fit.Rd")
  expect_identical(topic_of("confint"), "coef.medflow_effects.Rd")
  expect_identical(topic_of("predict"), "medflow_fit-methods.Rd")
  expect_identical(topic_of("nobs"), "medflow_fit-methods.Rd")
  expect_false("reexports.Rd" %in% names(aliases))
})

test_that("mc_error is documented with the effects columns", {
  man <- testthat::test_path("..", "..", "man", "effect_columns.Rd")
  skip_if(!file.exists(man), "package sources not available")
  txt <- paste(readLines(man), collapse = " ")
  expect_match(txt, "\\item \\code{mc_error}: the Monte Carlo error of a flow's estimate", fixed = TRUE)
})

test_that("install_medflow() does not ignore python = for an existing environment", {
  env <- file.path(tempfile("env-"), "r-medflow-test")
  dir.create(file.path(env, "bin"), recursive = TRUE)
  writeLines("home = /nonexistent/python/bin", file.path(env, "pyvenv.cfg"))
  file.create(file.path(env, "bin", "python"))
  file.create(file.path(env, "bin", "activate"))
  py <- Sys.which("python3")
  skip_if(!nzchar(py), "no python3 on PATH")
  skip_if(!reticulate::virtualenv_exists(env), "reticulate does not see the fake environment")
  expect_error(install_medflow(envname = env, python = py),
               sprintf("The environment '%s' already exists (built on the Python in /nonexistent/python/bin), so python = \"%s\" would not be used.",
                       env, py), fixed = TRUE)
  expect_error(install_medflow(python = file.path(tempdir(), "no-python")),
               "python = must be the path to an existing Python executable.", fixed = TRUE)
  expect_error(install_medflow(path = tempdir(), from_index = TRUE),
               "Give either path = (local sources) or from_index = TRUE, not both.", fixed = TRUE)
})

test_that("install_medflow() installs the bundled sources of the same version, or says why not", {
  expect_error(medflow:::python_sources(NULL, "0.1.0", bundled = ""),
               "This installation of the R package carries no Python sources (inst/python is missing).",
               fixed = TRUE)
  src <- tempfile("pysrc-")
  dir.create(src)
  writeLines(c("[project]", "name = \"medflow\"", "version = \"0.0.9\""), file.path(src, "pyproject.toml"))
  expect_identical(medflow:::pyproject_version(src), "0.0.9")
  expect_error(medflow:::python_sources(NULL, "0.1.0", bundled = src),
               "have version 0.0.9, but the R package is version 0.1.0", fixed = TRUE)
  writeLines(c("[project]", "version = \"0.1.0\""), file.path(src, "pyproject.toml"))
  expect_identical(medflow:::python_sources(NULL, "0.1.0", bundled = src), src)
  # the repository's pyproject.toml has the R package's version
  root_toml <- testthat::test_path("..", "..", "pyproject.toml")
  skip_if(!file.exists(root_toml), "repository sources not available")
  expect_identical(medflow:::pyproject_version(dirname(root_toml)),
                   as.character(utils::packageVersion("medflow")))
})

test_that("a virtual environment's python is not the interpreter it links to", {
  py <- Sys.which("python3")
  skip_if(!nzchar(py), "no python3 on PATH")
  env <- tempfile("venv-")
  dir.create(file.path(env, "bin"), recursive = TRUE)
  file.symlink(normalizePath(py), file.path(env, "bin", "python"))
  expect_false(medflow:::same_python_path(file.path(env, "bin", "python"), py))
  expect_true(medflow:::same_python_path(file.path(env, "bin", "python"),
                                         file.path(env, "bin", ".", "python")))
})

test_that("use_medflow_python() says to restart R when another Python is running", {
  skip_if_no_medflow()
  running <- reticulate::py_config()$python
  env <- tempfile("venv-")
  dir.create(file.path(env, "bin"), recursive = TRUE)
  file.symlink(normalizePath(running), file.path(env, "bin", "python"))
  expect_error(use_medflow_python(env), "Python is already running in this session", fixed = TRUE)
  expect_error(use_medflow_python(env), "restart R and call use_medflow_python()", fixed = TRUE)
})

test_that("plot() of a fit draws the graph and the training curve", {
  fit <- fake_fit()
  fit$history <- data.frame(epoch = rep(1:4, 2), member = rep(0:1, each = 4),
                            train_nll = c(4, 3, 2.5, 2.4, 4.2, 3.2, 2.7, 2.6),
                            val_nll = c(4.1, 3.1, 2.8, 2.9, 4.3, 3.3, 3.0, 3.1))
  fit$fit_info <- list(best_epoch = 3L)
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  out <- plot(fit)
  lay <- out$layout
  expect_identical(lay$node, c("V", "X", "U", "W", "Y"))
  # columns by the longest path from a root: V, X | U | W | Y
  expect_equal(stats::setNames(lay$x, lay$node), c(V = 0, X = 0, U = 1, W = 2, Y = 3))
  # an ensemble's curve is the mean over members
  expect_equal(out$curve$train_nll, c(4.1, 3.1, 2.6, 2.5))
  expect_null(plot(fit, which = "dag")$curve)
  expect_error(plot(fit, which = "weights"), "'arg' should be one of")
})

test_that("nobs(), coef(), predict() and the discrete notice of a fitted flow", {
  skip_if_no_medflow()
  d <- simulate_bd(800, seed = 11)
  fit <- medflow(bd_model, d, epochs = 2, seed = 1, verbose = FALSE)
  expect_identical(nobs(fit), 800L)
  # the linear part starts from least squares: close to the linear SEM's coefficients
  lin <- coef(linear_sem(bd_model, data = d))
  b <- coef(fit)
  expect_true(all(names(lin) %in% names(b)))
  expect_equal(b[names(lin)], lin, tolerance = 0.05)
  expect_true("X ~ V" %in% names(b))          # V ~~ X, modelled as an edge
  # conditional mean of Y given its parents: the linear truth on linear-Gaussian data
  nd <- data.frame(U = c(-1, 0, 1), X = c(0, 0.5, 1), W = c(0, 0, 1))
  truth <- with(bd_coef, yu * nd$U + yx * nd$X + yw * nd$W)
  expect_equal(predict(fit, nd, node = "Y", n_mc = 300), truth, tolerance = 0.15)
  expect_length(predict(fit, node = "U"), 800L)
  expect_error(predict(fit, data.frame(U = 1), node = "Y"),
               "data has no column X, W: predicting Y needs the values of its parents", fixed = TRUE)
  expect_error(predict(fit, nd, node = "Z"), "node = \"Z\" is not a variable of the model", fixed = TRUE)
  # whole-number columns are discrete by default: say so
  di <- data.frame(X = rep(0:6, length.out = 300))
  di$Y <- di$X + round(stats::rnorm(300))
  expect_message(medflow("Y ~ X", di, epochs = 1, verbose = FALSE),
                 "Treating X, Y as discrete because their values all lie on an equally spaced grid such as whole numbers",
                 fixed = TRUE)
  # few values off a grid: mapped to levels, and said so
  du <- data.frame(X = stats::rnorm(300))
  du$M <- c(0, 1, 3.71)[findInterval(du$X + stats::rnorm(300), c(-0.5, 0.5)) + 1]
  du$Y <- du$M + du$X + stats::rnorm(300)
  expect_message(fu <- medflow("M ~ X; Y ~ X + M", du, epochs = 1, verbose = FALSE),
                 "Treating M as discrete because it has few distinct values (mapped to ordered levels", fixed = TRUE)
  expect_true(all(simulate(fu, nsim = 100)$M %in% c(0, 1, 3.71)))
  expect_message(medflow("Y ~ X", di, epochs = 1, verbose = FALSE, continuous = c("X", "Y")), NA)
})

test_that("Python warnings become R warnings; extrapolation messages are in R syntax", {
  skip_if_no_medflow()
  d <- simulate_bd(300, seed = 12)
  d$Y[1:3] <- NA
  expect_warning(fit <- medflow(bd_model, d, missing = "drop", epochs = 1, verbose = FALSE),
                 "Dropped 3 of 300 rows with missing values (Y: 3).", fixed = TRUE)
  expect_identical(fit$n, 297L)
  # the linear SEM takes the same missing = policy, with the same messages
  expect_error(linear_sem(bd_model, data = d),
               "The data have missing values (Y: 3). Remove or impute them, or use missing = \"drop\"",
               fixed = TRUE)
  expect_warning(sem <- linear_sem(bd_model, data = d, missing = "drop"),
                 "Dropped 3 of 300 rows with missing values (Y: 3).", fixed = TRUE)
  expect_identical(sem$n, 297L)
  expect_equal(coef(sem), coef(linear_sem(bd_model, data = d[!is.na(d$Y), ])))
  expect_error(linear_sem(bd_model, cor = blau_duncan_cor, missing = "drop"),
               "missing = is only used with data =.", fixed = TRUE)
  expect_error(dose_response(fit, "X", "Y", grid = c(0, 100)), "use extrapolate = TRUE", fixed = TRUE)
  curve <- dose_response(fit, "X", "Y", grid = c(-1, 0, 1))
  expect_false(any(c("std_error", "ci_lower", "ci_upper") %in% names(curve)))
  expect_true(all(c("a", "estimate") %in% names(curve)))
})

test_that("no progress bar in a log: verbose fits from Rscript write no carriage returns", {
  skip_if_no_medflow()
  skip_on_cran()
  script <- tempfile(fileext = ".R")
  log <- tempfile(fileext = ".log")
  root <- normalizePath(testthat::test_path("..", ".."))
  load <- if (file.exists(file.path(root, "DESCRIPTION")) && dir.exists(file.path(root, "R"))) {
    sprintf("pkgload::load_all('%s', quiet = TRUE)", root)
  } else {
    "suppressMessages(library(medflow))"
  }
  writeLines(c(
    load,
    "d <- data.frame(X = rnorm(200)); d$Y <- d$X + rnorm(200)",
    "fit <- medflow('Y ~ X', d, epochs = 3, verbose = TRUE)",
    "cat('done\\n')"), script)
  rscript <- file.path(R.home("bin"), "Rscript")
  status <- system2(rscript, script, stdout = log, stderr = log)
  out <- readChar(log, file.info(log)$size)
  skip_if(status != 0 && grepl("there is no package called", out), "medflow not installed for Rscript")
  expect_identical(status, 0L)
  expect_match(out, "done")
  expect_false(grepl("\r", out, fixed = TRUE))
})

test_that("a Python medflow of another version than the R package is reported", {
  expect_null(medflow:::version_mismatch_message("0.1.0", "0.1.0"))
  expect_null(medflow:::version_mismatch_message(NA_character_, "0.1.0"))
  expect_identical(medflow:::version_mismatch_message("0.0.9", "0.1.0"), paste0(
    "The Python package medflow is version 0.0.9 but the R package is version 0.1.0; run ",
    "medflow::install_medflow() to install the matching Python sources and restart R."))
})

test_that("pip runs without the library path R put in front of the user's", {
  ld <- "/usr/lib/R/lib:/usr/lib/x86_64-linux-gnu:/usr/lib/jvm/default-java/lib/server:/opt/x"
  expect_identical(medflow:::user_library_path(ld, r_lib = "/usr/lib/R/lib"),
                   "/usr/lib/jvm/default-java/lib/server:/opt/x")
  expect_identical(medflow:::user_library_path("/usr/lib/R/lib:/lib64", r_lib = "/usr/lib/R/lib"), "")
})
