#' medflow: causal mediation analysis with causal-graphical normalizing flows
#'
#' medflow estimates causal effects on a causal graph (a DAG) you write in
#' lavaan-style syntax: total effects, natural direct and indirect effects,
#' their interventional analogues, path-specific effects and sequential
#' decompositions, from a causal-graphical normalizing flow ([medflow()]) and,
#' beside it, from the classical linear path model ([linear_sem()]). For a
#' flow, [sensitivity()] shows how the effects change under an assumed hidden
#' confounding of two variables.
#'
#' The computations run in the Python package `medflow`, which R reaches
#' through reticulate. It is imported the first time it is needed; loading
#' the R package starts no Python and installs nothing. If Python or the
#' module is missing, run [install_medflow()] or point R to a Python that has
#' it with [use_medflow_python()] or the `RETICULATE_PYTHON` environment
#' variable. Results (effects tables, dose-response curves, counterfactuals)
#' are plain R data frames.
#'
#' @docType package
#' @name medflow-package
#' @aliases medflow-package
#' @keywords internal
NULL
