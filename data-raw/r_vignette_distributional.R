# Recomputes the precomputed tables of the vignette section "Distributions and mobility
# tables" (vignettes/blau-duncan.Rmd) in inst/extdata/. Needs Python with the medflow module
# (RETICULATE_PYTHON). Run from the repository root:
#
#   RETICULATE_PYTHON=/path/to/python Rscript data-raw/r_vignette_distributional.R
#
# Fits the flow as data-raw/r_vignette_tables.R does (the package's one procedure, same
# seed; about half a minute on two CPU cores), then writes the quantile effects of the flow and the linear SEM
# and their observed and counterfactual mobility tables (education U held at its value
# under the 25th percentile of father's occupation X).

if (requireNamespace("pkgload", quietly = TRUE)) pkgload::load_all(".", quiet = TRUE) else library(medflow)
stopifnot(medflow_available())
out_dir <- file.path("inst", "extdata")
write_table <- function(x, file) {
  utils::write.csv(as.data.frame(x), file.path(out_dir, file), row.names = FALSE)
  message("wrote ", file.path(out_dir, file))
}

model <- "U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"
seed <- 2024
fit <- medflow(model, blau_duncan, seed = seed, verbose = FALSE)
sem <- linear_sem(model, data = blau_duncan)

q_flow <- distributional_effects(fit, "X", "Y", mediators = c("W", "U"), means = FALSE, seed = seed,
                                 verbose = FALSE)
q_sem <- distributional_effects(sem, "X", "Y", mediators = c("W", "U"), means = FALSE, seed = seed)
write_table(rbind(as.data.frame(q_flow), as.data.frame(q_sem)), "blau_duncan_quantile_effects.csv")

x25 <- unname(stats::quantile(blau_duncan$X, 0.25, type = 1))
mob_flow <- mobility_table(fit, "X", "Y", bins = 5, mediators = "U", a_ref = x25, seed = seed)
mob_sem <- mobility_table(sem, "X", "Y", bins = 5, mediators = "U", a_ref = x25, seed = seed)
write_table(rbind(as.data.frame(mob_flow), as.data.frame(mob_sem)), "blau_duncan_mobility.csv")
indices <- function(m) data.frame(index = rownames(m$indices), m$indices, method = m$method, a_ref = x25)
write_table(rbind(indices(mob_flow), indices(mob_sem)), "blau_duncan_mobility_indices.csv")
