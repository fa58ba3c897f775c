# Tiny flow fits (few epochs, N = 1000): the R wrapper against the Python
# package called directly, and against known truths of a linear SCM.

sim_linear <- function() {
  ds <- reticulate::import("medflow.datasets", convert = FALSE)
  sim <- ds$simulate(dgp = "linear", n = 1000L, seed = 1L)
  list(py = sim, data = medflow:::py_frame_to_r(sim$data),
       truth = medflow:::py_frame_to_r(sim$truth))
}

fit_once <- local({
  cache <- NULL
  function() {
    if (is.null(cache)) {
      sim <- sim_linear()
      fit <- medflow(bd_model, sim$data, epochs = 3, seed = 5, verbose = FALSE)
      cache <<- list(sim = sim, fit = fit)
    }
    cache
  }
})

test_that("medflow() returns a fitted flow with plain R information", {
  skip_if_no_medflow()
  x <- fit_once()
  fit <- x$fit
  expect_s3_class(fit, "medflow_fit")
  expect_identical(fit$variables, c("V", "X", "U", "W", "Y"))
  expect_identical(fit$n, 1000L)
  expect_identical(fit$discrete, character())
  expect_s3_class(fit$history, "data.frame")
  expect_true(all(c("epoch", "train_nll", "val_nll") %in% names(fit$history)))
  expect_lte(nrow(fit$history), 3L)
  expect_output(print(fit), "N = 1000; variables: V, X, U, W, Y")
  expect_output(print(summary(fit)), "medflow (ended normally|did NOT converge) after 3 epochs")
  expect_output(print(summary(fit)), "Linearity check: held-out log-likelihood per row", fixed = TRUE)
  # each member: its best epoch, or "avg" where it kept its weights averaged over epochs 2-3
  kept <- ifelse(unlist(fit$fit_info$averaged), "avg", unlist(fit$fit_info$best_epochs))
  expect_length(kept, 10L)
  expect_output(print(summary(fit)), paste0("Kept weights   ", paste(kept, collapse = ", "), "\n"), fixed = TRUE)
  expect_output(print(summary(fit)), "avg: weights averaged over epochs 2-3,", fixed = TRUE)
  expect_identical(fit$linearity$node, c("X", "U", "W", "Y"))
})

test_that("R and Python give identical numbers for the same seed", {
  skip_if_no_medflow()
  x <- fit_once()
  mf <- reticulate::import("medflow", convert = FALSE)
  pyfit <- mf$CausalFlow(model = bd_model, data = x$sim$py$data)$fit(epochs = 3L, seed = 5L,
                                                                      verbose = FALSE)
  expect_identical(medflow:::py_frame_to_r(pyfit$history), x$fit$history)
  py_res <- pyfit$effects(treatment = "X", outcome = "Y", mediators = list("W", "U"), seed = 3L)
  py_tab <- medflow:::py_frame_to_r(py_res$to_frame())
  r_res <- effects(x$fit, treatment = "X", outcome = "Y", mediators = c("W", "U"), seed = 3)
  expect_identical(r_res$label, py_tab$label)
  expect_identical(r_res$estimate, py_tab$estimate)
  expect_identical(r_res$estimate_sd, py_tab$estimate_sd)
  expect_identical(r_res$identified, py_tab$identified)
  # the shared schema is the Python one
  results <- reticulate::import("medflow.results")
  expect_identical(effect_columns, unlist(results$EFFECT_COLUMNS))
  # compare() in R and in Python agree
  lin <- linear_sem(bd_model, data = x$sim$data)
  lin_py <- mf$LinearSEM(model = bd_model, data = x$sim$py$data)$fit()$effects(
    treatment = "X", outcome = "Y", mediators = list("W", "U"))
  cmp_py <- medflow:::py_frame_to_r(mf$compare(py_res, lin_py, names = list("flow", "linear")))
  cmp_r <- compare(flow = r_res, linear = effects(lin, "X", "Y", mediators = c("W", "U")))
  # one layout: the same columns and rows in R and in Python
  expect_identical(comparison_columns, unlist(results$COMPARISON_COLUMNS))
  expect_identical(names(cmp_py), comparison_columns)
  expect_identical(cmp_r$label, cmp_py$label)
  expect_identical(cmp_r$name, cmp_py$name)
  expect_equal(cmp_r$estimate, cmp_py$estimate, tolerance = 1e-12)
  expect_equal(cmp_r$ci_upper_sd, cmp_py$ci_upper_sd, tolerance = 1e-12)
  expect_identical(cmp_r$identified, cmp_py$identified)
})

test_that("where = selects the same units for the flow and the linear SEM", {
  skip_if_no_medflow()
  x <- fit_once()
  sem <- linear_sem(bd_model, data = x$sim$data)
  keep <- sum(x$sim$data$V >= 0)
  flow_sel <- effects(x$fit, "X", "Y", mediators = "W", where = "V >= 0")
  sem_sel <- effects(sem, "X", "Y", mediators = "W", where = "V >= 0")
  expect_equal(flow_sel$n, rep(keep, nrow(flow_sel)))
  expect_equal(sem_sel$n, rep(keep, nrow(sem_sel)))
  expect_identical(sem_sel$label, flow_sel$label)
  # the linear SEM's effects are the same for every unit
  expect_equal(sem_sel$estimate, effects(sem, "X", "Y", mediators = "W")$estimate, tolerance = 1e-12)
  expect_error(effects(sem, "X", "Y", where = "V > 1e6"), "where = selects no units.", fixed = TRUE)
})

test_that("flow effects on a linear SCM agree with the linear SEM and the truth", {
  skip_if_no_medflow()
  x <- fit_once()
  a <- x$sim$truth$a[1]
  a_ref <- x$sim$truth$a_ref[1]
  eff <- effects(x$fit, "X", "Y", mediators = "W", a = a, a_ref = a_ref)
  lin <- effects(linear_sem(bd_model, data = x$sim$data), "X", "Y", mediators = "W", a = a, a_ref = a_ref)
  truth <- stats::setNames(x$sim$truth$truth, x$sim$truth$label)
  # The flow starts from the least-squares fit, so on linear-Gaussian data it
  # stays close to the linear SEM on the same data; both are within sampling
  # error (about 0.03 here, N = 1000) of the true effects.
  for (lab in c("TE", "NDE via W", "NIE via W", "rNDE via W", "rNIE via W")) {
    expect_lt(abs(coef(eff)[[lab]] - coef(lin)[[lab]]), 0.05, label = lab)
    expect_lt(abs(coef(eff)[[lab]] - truth[[lab]]), 0.1, label = lab)
  }
  expect_identical(eff$identified, c(TRUE, FALSE, FALSE, TRUE, TRUE))
  expect_identical(c(eff$a[1], eff$a_ref[1]), c(a, a_ref))
  expect_equal(unname(coef(eff)["TE"]), unname(coef(eff)["NDE via W"] + coef(eff)["NIE via W"]),
               tolerance = 1e-6)
  dec <- decompose_effect(x$fit, "X", "Y", order = c("U", "W"))
  expect_equal(sum(coef(dec)[c("PART via U", "PART via W", "PART direct")]), unname(coef(dec)["TE"]),
               tolerance = 1e-5)
  expect_lt(abs(coef(dec)[["PART via U"]] - truth[["PART via U"]]), 0.1)
  pse <- path_effects(x$fit, "X", "Y", paths = c("X -> W -> Y", "X -> U -> W -> Y"))
  expect_identical(pse$label, "PSE: X -> W -> Y; X -> U -> W -> Y")
  expect_identical(pse$witness, "U")
})

test_that("dose_response(), counterfactual() and simulate() return data.frames", {
  skip_if_no_medflow()
  x <- fit_once()
  fit <- x$fit
  dr <- dose_response(fit, "X", "Y", grid = c(-1, 0, 1))
  expect_s3_class(dr, "data.frame")
  expect_identical(dr$a, c(-1, 0, 1))
  expect_true(all(c("estimate", "estimate_sd") %in% names(dr)))
  expect_false(any(c("std_error", "ci_lower", "ci_upper") %in% names(dr)))   # no n_boot: no intervals
  # slope of E[Y(a)] is the total effect per unit of X (linear SCM)
  lin <- effects(linear_sem(bd_model, data = x$sim$data), "X", "Y", a = 1, a_ref = 0)
  expect_lt(abs(diff(range(dr$estimate)) / 2 - coef(lin)[["TE"]]), 0.05)
  rows <- x$sim$data[1:4, ]
  cf <- counterfactual(fit, rows, do = list(X = 1))
  expect_identical(dim(cf), c(4L, 5L))
  expect_equal(cf$X, rep(1, 4), tolerance = 1e-6)
  expect_equal(cf$V, rows$V, tolerance = 1e-5)
  same <- counterfactual(fit, rows, do = c(X = 0))
  expect_identical(names(same), names(rows))
  sims <- simulate(fit, nsim = 50, seed = 2, do = list(X = 0.5))
  expect_identical(dim(sims), c(50L, 5L))
  expect_equal(sims$X, rep(0.5, 50), tolerance = 1e-6)
  expect_identical(simulate(fit, nsim = 20, seed = 2), simulate(fit, nsim = 20, seed = 2))
  expect_error(counterfactual(fit, rows, do = list(X = 1e9)),
               "outside its observed range", fixed = TRUE)
  expect_identical(dim(counterfactual(fit, rows, do = list(X = 1e9), extrapolate = TRUE)), c(4L, 5L))
})

test_that("save_medflow() and load_medflow() round-trip; saveRDS() leaves a clear message", {
  skip_if_no_medflow()
  x <- fit_once()
  dir <- file.path(tempdir(), "medflow-fit")
  expect_identical(save_medflow(x$fit, dir, include_data = TRUE), dir)
  back <- load_medflow(dir)
  expect_s3_class(back, "medflow_fit")
  expect_identical(back$history, x$fit$history)
  expect_identical(coef(effects(back, "X", "Y", mediators = "W")),
                   coef(effects(x$fit, "X", "Y", mediators = "W")))
  # by default no data are saved: effects need data =, and say so
  dir2 <- file.path(tempdir(), "medflow-fit-nodata")
  save_medflow(x$fit, dir2)
  lean <- load_medflow(dir2)
  expect_true(is.na(lean$n))
  expect_error(effects(lean, "X", "Y", mediators = "W"),
               "This model was saved without its data", fixed = TRUE)
  expect_equal(coef(effects(lean, "X", "Y", mediators = "W", data = x$sim$data)),
               coef(effects(x$fit, "X", "Y", mediators = "W")), tolerance = 1e-10)
  expect_error(save_medflow(x$fit, dir2, include_data = NA), "include_data = must be TRUE or FALSE")
  json <- file.path(dir2, "model.json")
  writeLines(sub("\"bins\": 8", "\"bins\": 9", readLines(json, warn = FALSE)), json)
  expect_error(load_medflow(dir2), "model.json does not match its checksum", fixed = TRUE)
  rds <- tempfile(fileext = ".rds")
  saveRDS(x$fit, rds)
  dead <- readRDS(rds)
  expect_output(print(dead), "The Python model is not available in this session")
  expect_error(effects(dead, "X", "Y"), "Save fits with save_medflow() and read them with load_medflow().",
               fixed = TRUE)
  expect_error(load_medflow(file.path(tempdir(), "nothing-here")),
               "is not a folder written by save_medflow()", fixed = TRUE)
})

test_that("Python-side validation errors reach R as one plain message", {
  skip_if_no_medflow()
  d <- simulate_bd(40, 1)
  expect_error(medflow(bd_model, d, epochs = 1, verbose = FALSE),
               "The data have 40 complete rows; a flow needs at least 50.", fixed = TRUE)
  d <- simulate_bd(100, 1)
  d$X[3] <- NA
  expect_error(medflow(bd_model, d, epochs = 1, verbose = FALSE),
               "The data have missing values (X: 1). Remove or impute them", fixed = TRUE)
  expect_error(medflow("Y ~ X; X ~ Y", d, epochs = 1, verbose = FALSE), "model = : the model has a cycle",
               fixed = TRUE)
})

test_that("medflow() passes architecture settings by name and fit settings through control =", {
  skip_if_no_medflow()
  d <- simulate_bd(300, 2)
  fit <- medflow(bd_model, d, hidden = 8, members = 2L, epochs = 2, batch_size = 64, lr = 0.01,
                 control = list(patience = 1L, linear_nodes = "none"), seed = 1, verbose = FALSE)
  expect_identical(fit$settings$patience, 1L)
  expect_identical(fit$settings$batch_size, 64L)
  expect_identical(fit$settings$lr, 0.01)
  expect_identical(fit$settings$members, 2L)
  expect_identical(as.integer(unlist(fit$fit_info$fold_sizes)), c(150L, 150L))
  expect_identical(fit$fit_info$linear_nodes, list())
  # NULL settings are chosen by Python from the data (the one source of defaults)
  auto <- reticulate::import("medflow.training")$TrainSettings$auto(300L)$batch_size
  fit2 <- medflow(bd_model, d, members = 1L, epochs = 1, seed = 1, verbose = FALSE)
  expect_identical(fit2$settings$batch_size, auto)
  expect_identical(reticulate::py_to_r(fit$py$config$get("hidden")), 8L)
  # a fit setting given where the architecture goes is refused by name
  expect_error(medflow(bd_model, d, epochs = 1, patience = 15, verbose = FALSE),
               "Unknown flow setting(s): patience", fixed = TRUE)
})
