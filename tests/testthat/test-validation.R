# Argument checks run in R before the fit reaches Python. Model syntax is read by
# the Python parser (medflow.dag.DAG.from_syntax), so the tests that give syntax
# need the Python module.

d <- data.frame(V = rnorm(60), X = rnorm(60), U = rnorm(60), W = rnorm(60), Y = rnorm(60))

test_that("medflow() rejects a model it cannot read", {
  expect_error(medflow(42, d), "model = must be lavaan-style syntax", fixed = TRUE)
  adj <- matrix(0, 2, 2, dimnames = list(c("X", "Y"), c("Y", "X")))
  expect_error(medflow(adj, d), "an adjacency matrix needs the same variable names", fixed = TRUE)
  skip_if_no_medflow()
  # the Python parser's messages, prefixed with the argument
  expect_error(medflow("", d), "model = : the model is empty: write statements such as", fixed = TRUE)
  expect_error(medflow("Y = X", d),
               "model = : cannot read the statement 'Y = X': write one regression per statement",
               fixed = TRUE)
  expect_error(medflow("Y ~ 2*X", d), "model = : '2*X' in 'Y ~ 2*X' is not a variable name", fixed = TRUE)
  expect_error(medflow("Y ~ X +", d), "model = : cannot read the right-hand side of 'Y ~ X +'", fixed = TRUE)
  expect_error(medflow("Y ~ Y + X", d), "model = : self-loop: Y cannot cause itself", fixed = TRUE)
  expect_error(medflow("F =~ a + b", d), "cannot read the statement 'F =~ a + b'", fixed = TRUE)
  expect_error(medflow("Y ~ X; X ~ Y", d), "model = : the model has a cycle", fixed = TRUE)
})

test_that("model syntax is parsed by the Python parser", {
  skip_if_no_medflow()
  spec <- medflow:::check_model("U ~ V + X; W ~ U + X # comment\nY ~ U + X + W; V ~~ X")
  expect_equal(spec$kind, "syntax")
  expect_equal(spec$vars, c("V", "X", "U", "W", "Y"))
  parsed <- medflow:::parse_syntax("U ~ V + X; W ~ U + X # comment\nY ~ U + X + W; V ~~ X")
  expect_equal(parsed$edges, rbind(c("V", "U"), c("X", "U"), c("U", "W"), c("X", "W"),
                                   c("U", "Y"), c("X", "Y"), c("W", "Y")))
  expect_equal(parsed$cors, rbind(c("V", "X")))
  expect_null(medflow:::parse_syntax("Y ~ X")$cors)
  edges <- medflow:::check_model(data.frame(from = c("X", "M"), to = c("M", "Y")))
  expect_equal(edges$kind, "edges")
  expect_equal(edges$vars, c("X", "M", "Y"))
  adj <- matrix(c(0, 0, 1, 0), 2, dimnames = list(c("X", "Y"), c("X", "Y")))
  expect_equal(medflow:::check_model(adj)$kind, "adjacency")
})

test_that("medflow() checks the data against the model", {
  expect_error(medflow(bd_model, as.matrix(d)), "data = must be a data.frame, not a double matrix.",
               fixed = TRUE)
  expect_error(medflow(bd_model, d[0, ]), "data = has no rows.", fixed = TRUE)
  expect_error(medflow(bd_model, d[c("V", "X", "U")]),
               "data = has no columns W, Y (used in model =).", fixed = TRUE)
  f <- d
  f$X <- factor(sample(c("a", "b"), 60, TRUE))
  expect_error(medflow(bd_model, f),
               "data = : model variables must be numeric; X is factor. Recode categories as integers",
               fixed = TRUE)
  f$X <- "a"
  expect_error(medflow(bd_model, f), "X is character", fixed = TRUE)
})

test_that("medflow() checks its settings", {
  expect_error(medflow(bd_model, d, epochs = 0), "epochs = must be a whole number of at least 1",
               fixed = TRUE)
  expect_error(medflow(bd_model, d, epochs = 2.5), "epochs = must be a whole number", fixed = TRUE)
  expect_error(medflow(bd_model, d, seed = -1), "seed = must be a whole number of at least 0",
               fixed = TRUE)
  expect_error(medflow(bd_model, d, seed = "a"), "seed = must be a whole number", fixed = TRUE)
  expect_error(medflow(bd_model, d, verbose = NA), "verbose = must be TRUE or FALSE", fixed = TRUE)
  expect_error(medflow(bd_model, d, device = "tpu"), "device = must be one of \"cpu\", \"cuda\"",
               fixed = TRUE)
  expect_error(medflow(bd_model, d, missing = "impute"), "'arg' should be one of")
  expect_error(medflow(bd_model, d, lr = -1),
               "lr = must be a positive number of at most 1 (AdamW's step size), not -1.", fixed = TRUE)
  expect_error(medflow(bd_model, d, lr = 10),
               "lr = must be a positive number of at most 1 (AdamW's step size), not 10.", fixed = TRUE)
  expect_error(medflow(bd_model, d, discrete = "Z"),
               "discrete = names Z, which are not variables of the model.", fixed = TRUE)
  expect_error(medflow(bd_model, d, continuous = c("X", "X")), "continuous = names X twice.",
               fixed = TRUE)
  expect_error(medflow(bd_model, d, 32), "Every argument in ... of medflow() must be named",
               fixed = TRUE)
  expect_error(medflow(bd_model, d, control = list(1)), "control = must be a named list", fixed = TRUE)
  expect_error(medflow(bd_model, d, hidden = 2.5), "hidden = must be a whole number of at least 1, not double 2.5.",
               fixed = TRUE)
  expect_error(medflow(bd_model, d, bins = 1), "bins = must be a whole number of at least 2", fixed = TRUE)
  expect_error(medflow(bd_model, d, control = list(patience = 0)),
               "control$patience = must be a whole number of at least 1, not double 0.", fixed = TRUE)
})

test_that("effect queries check their arguments before Python", {
  fit <- fake_fit()
  expect_error(effects(fit, treatment = "Z", outcome = "Y"),
               "treatment = \"Z\" is not a variable of the model (its variables are V, X, U, W, Y).",
               fixed = TRUE)
  expect_error(effects(fit, treatment = c("X", "V"), outcome = "Y"),
               "treatment = must be one variable name (a character string), not a character vector of length 2.",
               fixed = TRUE)
  expect_error(effects(fit, "X", "X"), "treatment = and outcome = must be different variables.",
               fixed = TRUE)
  expect_error(effects(fit, "X", "Y", mediators = "Q"),
               "mediators = names Q, which are not variables of the model", fixed = TRUE)
  expect_error(effects(fit, "X", "Y", mediators = "U+Q"), "mediators = names Q", fixed = TRUE)
  expect_error(effects(fit, "X", "Y", mediators = "Y"),
               "mediators = must not contain the treatment or the outcome.", fixed = TRUE)
  expect_error(effects(fit, "X", "Y", level = 1.5),
               "level = must be a number between 0 and 1 (e.g. 0.90), not double 1.5.", fixed = TRUE)
  expect_error(effects(fit, "X", "Y", n_boot = -3), "n_boot = must be a whole number of at least 0",
               fixed = TRUE)
  expect_error(effects(fit, "X", "Y", at = list(V = 4)),
               "at = is no longer supported: it set the variables after abduction", fixed = TRUE)
  expect_error(effects(fit, "X", "Y", at = list(V = 4)), "where = \"V == 4\"", fixed = TRUE)
  for (f in list(effects.medflow_fit, path_effects.medflow_fit, decompose_effect.medflow_fit,
                 dose_response.medflow_fit, sensitivity)) {
    expect_identical(formals(f)$level, 0.95)
  }
  expect_error(effects(fit, "X", "Y", a = "high"), "a = must be one finite number", fixed = TRUE)
  expect_error(effects(fit, "X", "Y", interventional = "yes"),
               "interventional = must be TRUE or FALSE", fixed = TRUE)
  expect_error(effects(fit, "X", "Y", 10),
               "mediators = must be a character vector of variable names, not double 10.", fixed = TRUE)
  expect_error(dose_response(fit, "X", "Y", NULL, 0, 0.9, 0, 5),
               "Every argument in ... of dose_response() must be named", fixed = TRUE)
  expect_error(path_effects(fit, "X", "Y", paths = "X - Y"),
               "paths = : cannot read the path 'X - Y'", fixed = TRUE)
  expect_error(path_effects(fit, "X", "Y", paths = "W -> Y"),
               "paths = : the path 'W -> Y' must start at the treatment (X) and end at the outcome (Y).",
               fixed = TRUE)
  expect_error(path_effects(fit, "X", "Y", paths = "X -> Q -> Y"),
               "paths = : the path 'X -> Q -> Y' has Q, which is not a variable of the model.",
               fixed = TRUE)
  expect_error(decompose_effect(fit, "X", "Y", order = "X"),
               "order = must not contain the treatment or the outcome.", fixed = TRUE)
  expect_error(decompose_effect(fit, "X", "Y", order = character()),
               "order = must be a character vector of variable names", fixed = TRUE)
  expect_error(dose_response(fit, "X", "Y", grid = c(1, NA)),
               "grid = must be a numeric vector of treatment values without missing values.", fixed = TRUE)
  expect_error(counterfactual(fit, d, do = 5), "do = must be a named list of values", fixed = TRUE)
  expect_error(counterfactual(fit, d, do = list(Q = 5)),
               "do = names Q, which are not variables of the model.", fixed = TRUE)
  expect_error(counterfactual(fit, d, do = list(X = "a")), "do$X = must be one finite number",
               fixed = TRUE)
  expect_error(simulate(fit, nsim = 0), "nsim = must be a whole number of at least 1", fixed = TRUE)
})

test_that("a fit whose Python object is gone says how to save and load", {
  fit <- fake_fit()
  expect_error(effects(fit, "X", "Y"),
               "object = refers to a Python model that no longer exists", fixed = TRUE)
  expect_error(decompose_effect(fit, "X", "Y", order = "W"), "x = refers to a Python model", fixed = TRUE)
  expect_error(save_medflow(fit, tempfile()), "Save fits with save_medflow()", fixed = TRUE)
  expect_output(print(fit), "The Python model is not available in this session")
  expect_output(print(summary(fit)), "The Python model is not available in this session.")
})

test_that("attaching medflow masks nothing of stats", {
  # decompose() used to mask stats::decompose(); the flow's decomposition is decompose_effect().
  exported <- getNamespaceExports("medflow")
  stats_fns <- ls(asNamespace("stats"))
  own <- vapply(exported, function(f) {
    !identical(environment(get(f, envir = asNamespace("medflow"))), asNamespace("stats"))
  }, logical(1))
  expect_identical(intersect(exported[own], stats_fns), character())
  expect_false("decompose" %in% exported)
  x <- stats::ts(sin(1:48) + rep(1:4, 12), frequency = 4)
  expect_s3_class(decompose(x), "decomposed.ts")
})

test_that("every default interval level is the Python package's one (estimands.LEVEL)", {
  skip_if_no_medflow()
  level <- reticulate::import("medflow.estimands")$LEVEL
  ns <- asNamespace("medflow")
  for (fn in c("effects.medflow_fit", "path_effects.medflow_fit", "decompose_effect.medflow_fit",
               "cde.medflow_fit", "dose_response.medflow_fit", "distributional_effects.medflow_fit",
               "sensitivity")) {
    expect_identical(formals(get(fn, envir = ns))$level, level, label = fn)
  }
})

test_that("a linear SEM's queries name their further options", {
  sem <- structure(list(variables = c("V", "X", "U", "W", "Y")), class = "medflow_sem")
  expect_error(effects(sem, "X", "Y", foo = 1, n_mc = 3),
               "effects() on a linear SEM has no option foo =, n_mc =; its further options are se =, where =, by =.",
               fixed = TRUE)
  expect_error(cde(sem, "X", "Y", m = c(W = 1), extrapolate = TRUE),
               "cde() on a linear SEM has no option extrapolate =", fixed = TRUE)
  expect_error(distributional_effects(sem, "X", "Y", n_mc = 5),
               "distributional_effects() on a linear SEM has no option n_mc =; its further options are n_sim =.",
               fixed = TRUE)
})

test_that("dose_response() refuses a linear SEM with one clear error", {
  sem <- structure(list(), class = "medflow_sem")
  expect_error(dose_response(sem, "X", "Y"),
               "dose_response() needs a fitted flow (medflow()). In a linear SEM E[Y(a)] is a straight line",
               fixed = TRUE)
})

test_that("linear_sem() checks its inputs", {
  expect_error(linear_sem(bd_model), "Give exactly one of data =, cor = (with n =) or cov = (with n =).",
               fixed = TRUE)
  expect_error(linear_sem(bd_model, data = d, cor = blau_duncan_cor),
               "Give exactly one of data =, cor = (with n =) or cov = (with n =); got data = and cor =.",
               fixed = TRUE)
  expect_error(linear_sem(bd_model, data = d, n = 10), "n = is only used with cor = or cov =", fixed = TRUE)
  bare <- unclass(blau_duncan_cor)
  attr(bare, "n") <- NULL
  expect_error(linear_sem(bd_model, cor = bare), "n = (the number of observations) is needed with cor =.",
               fixed = TRUE)
  expect_error(linear_sem(bd_model, cor = bare[1:4, 1:4], n = 100),
               "cor = has no row and column for Y (used in model =).", fixed = TRUE)
  asym <- bare
  asym[1, 2] <- 0.9
  expect_error(linear_sem(bd_model, cor = asym, n = 100), "cor = is not symmetric.", fixed = TRUE)
  expect_error(linear_sem(bd_model, cor = 2 * bare, n = 100), "cor = must have ones on its diagonal",
               fixed = TRUE)
  expect_error(linear_sem(bd_model, cor = bare, n = 0), "n = must be a whole number of at least 1",
               fixed = TRUE)
  expect_error(linear_sem(bd_model, cov = bare, n = 10, means = c(V = 1)),
               "means = lacks the model variable(s) X, U, W, Y.", fixed = TRUE)
  expect_error(linear_sem(bd_model, cor = "r", n = 10), "cor = must be a square numeric matrix",
               fixed = TRUE)
})

test_that("the Python helpers check their arguments", {
  expect_error(use_medflow_python(c("a", "b")), "path = must be one path to a Python executable",
               fixed = TRUE)
  expect_error(use_medflow_python(file.path(tempdir(), "no-such-python")), "does not exist.",
               fixed = TRUE)
  expect_error(use_medflow_python(tempdir()), "is a directory without a Python executable",
               fixed = TRUE)
  expect_error(install_medflow(envname = ""), "envname = must be the name of a virtual environment",
               fixed = TRUE)
  expect_error(install_medflow(path = tempdir()), "has no pyproject.toml", fixed = TRUE)
  expect_error(install_medflow(torch = 2), "torch = must be one pip requirement", fixed = TRUE)
})

test_that("the missing-Python message says what to run", {
  msg <- medflow:::missing_python_message()
  expect_match(msg, "The Python package 'medflow' is not available in", fixed = TRUE)
  expect_match(msg, "Run medflow::install_medflow()", fixed = TRUE)
  expect_match(msg, "medflow::use_medflow_python(\"/path/to/python\")", fixed = TRUE)
  expect_match(msg, "RETICULATE_PYTHON", fixed = TRUE)
})

test_that("loading the package declares no Python requirement", {
  # py_require("medflow") named a package that is not on the package index.
  expect_false(any(grepl("py_require", deparse(medflow:::.onLoad), fixed = TRUE)))
  expect_false(exists("declare_python_requirements", envir = asNamespace("medflow"),
                      inherits = FALSE))
})

test_that("without the Python module, the first call that needs it gives the message", {
  skip_if(medflow_available(), "the Python module is available here")
  expect_error(medflow(bd_model, d, epochs = 1), "Run medflow::install_medflow()", fixed = TRUE)
  expect_error(linear_sem(bd_model, cor = blau_duncan_cor), "is not available in", fixed = TRUE)
})

test_that("the package loads when Python is already running, with or without medflow", {
  medflow_available()  # starts Python
  expect_silent(medflow:::.onLoad("", "medflow"))
  expect_identical(is.null(medflow:::.py$medflow), !medflow_available())
})
