# fair() and predict(): argument checks in R (no Python needed), then a small
# constrained fit on a linear design with a known direct effect.

test_that("fair() checks its arguments before Python", {
  fit <- fake_fit(c("C", "A", "M", "Y"))
  expect_error(fair(list(), "A", "Y", paths = "A -> Y", bounds = c(0, 0)),
               "object = must be a fitted flow from medflow(), not a list.", fixed = TRUE)
  expect_error(fair(fit, "B", "Y", paths = "A -> Y", bounds = c(0, 0)),
               "sensitive = \"B\" is not a variable of the model (its variables are C, A, M, Y).",
               fixed = TRUE)
  expect_error(fair(fit, "A", "Y", bounds = c(0, 0)),
               "Give the disallowed paths as paths = (e.g. \"race -> recid\") or the allowed mediators as mediators =, not both and not neither.",
               fixed = TRUE)
  expect_error(fair(fit, "A", "Y", paths = "A -> Y", bounds = 1),
               "bounds = must be two finite numbers (lower, upper), not double 1.", fixed = TRUE)
  expect_error(fair(fit, "A", "Y", paths = "A -> Y", bounds = c(0, 0), scale = "log"),
               "scale = must be \"difference\", \"ratio\" or \"odds ratio\", not character \"log\".",
               fixed = TRUE)
  expect_error(fair(fit, "A", "Y", paths = "A -> Y", bounds = c(0, 0), seed = 1.5),
               "seed = must be a whole number of at least 0", fixed = TRUE)
})

test_that("fair() keeps the direct effect within its bounds and predict() works for both fits", {
  skip_if_no_medflow()
  set.seed(3)
  n <- 300
  C <- rnorm(n)
  A <- as.numeric(rnorm(n) + 0.5 * C > 0)
  M <- 0.8 * A + 0.5 * C + rnorm(n)
  Y <- 1.0 * A + 0.7 * M + 0.4 * C + rnorm(n)
  d <- data.frame(C = C, A = A, M = M, Y = Y)
  fit <- medflow("M ~ C + A; Y ~ C + A + M", d, epochs = 20, seed = 0, verbose = FALSE)
  fr <- fair(fit, "A", "Y", paths = "A -> Y", bounds = c(-0.1, 0.1), max_rounds = 8, steps = 15)
  expect_s3_class(fr, "medflow_fair")
  expect_true(fr$satisfied)
  expect_gt(fr$pse_before, 0.6)
  expect_lte(abs(fr$pse_after), 0.1 + 1e-3 * sd(Y))
  # the price on the training rows (the objective) is positive; the held-out one is
  # reported beside it (it can be smaller: the unconstrained refit overfits more)
  expect_gt(fr$loglik_lost_train, 0)
  expect_identical(fr$loglik_rows, "held-out")
  expect_true(is.finite(fr$loglik_lost))
  expect_identical(fr$keep, c("C", "A"))
  expect_s3_class(fr$fit, "medflow_fit")
  expect_output(print(fr), "it holds at the solution")
  expect_identical(dim(as.data.frame(fr)), c(2L, 3L))
  p <- predict(fr, d[1:5, ])
  expect_length(p, 5)
  twin <- d[c(1, 1), ]
  twin$M <- c(-5, 5)
  q <- predict(fr, twin)
  expect_identical(q[1], q[2])                      # E*[Y | C, A] ignores M
  p_fit <- predict(fit, d, "Y")
  expect_lt(sqrt(mean((p_fit - (A + 0.7 * M + 0.4 * C))^2)), 0.3)
  expect_error(predict(fit, d[, c("C", "A")], "Y"), "has no column M")
})
