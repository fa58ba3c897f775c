# Argument checks run in R before anything reaches Python. Messages are full
# sentences that cite the argument as `name =`.

abort <- function(...) stop(paste0(...), call. = FALSE)

describe <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.data.frame(x)) return("a data.frame")
  if (is.matrix(x)) return(with_article(sprintf("%s matrix", typeof(x))))
  if (is.function(x)) return("a function")
  if (is.factor(x)) return("a factor")
  if (is.list(x)) return("a list")
  if (length(x) == 1L) return(sprintf("%s %s", typeof(x), deparse(x)[1]))
  with_article(sprintf("%s vector of length %d", typeof(x), length(x)))
}

# "an integer matrix", "a double vector": the article for a noun phrase.
with_article <- function(phrase) {
  paste(if (grepl("^[aeiouAEIOU]", phrase)) "an" else "a", phrase)
}

check_string <- function(x, arg, null_ok = FALSE) {
  if (is.null(x) && null_ok) return(invisible(NULL))
  if (!is.character(x) || length(x) != 1L || is.na(x) || !nzchar(x)) {
    abort(arg, " = must be one variable name (a character string), not ", describe(x), ".")
  }
  invisible(x)
}

check_names_vector <- function(x, arg, null_ok = TRUE) {
  if (is.null(x) && null_ok) return(invisible(NULL))
  if (!is.character(x) || length(x) < 1L || anyNA(x) || any(!nzchar(x))) {
    abort(arg, " = must be a character vector of variable names, not ", describe(x), ".")
  }
  if (anyDuplicated(x)) {
    abort(arg, " = names ", x[anyDuplicated(x)], " twice.")
  }
  invisible(x)
}

check_number <- function(x, arg, null_ok = FALSE) {
  if (is.null(x) && null_ok) return(invisible(NULL))
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || !is.finite(x)) {
    abort(arg, " = must be one finite number, not ", describe(x), ".")
  }
  invisible(x)
}

check_count <- function(x, arg, min = 0) {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || x != round(x) || x < min) {
    abort(arg, " = must be a whole number of at least ", min, ", not ", describe(x), ".")
  }
  invisible(as.integer(x))
}

check_flag <- function(x, arg) {
  if (!is.logical(x) || length(x) != 1L || is.na(x)) {
    abort(arg, " = must be TRUE or FALSE, not ", describe(x), ".")
  }
  invisible(x)
}

check_level <- function(x, arg = "level") {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || x <= 0 || x >= 1) {
    abort(arg, " = must be a number between 0 and 1 (e.g. 0.90), not ", describe(x), ".")
  }
  invisible(x)
}

check_choice <- function(x, arg, choices) {
  if (!is.character(x) || length(x) != 1L || is.na(x) || !(x %in% choices)) {
    abort(arg, " = must be one of ", paste0("\"", choices, "\"", collapse = ", "),
          ", not ", describe(x), ".")
  }
  invisible(x)
}

# ---------------------------------------------------------------- the model


# Parse lavaan-style syntax with the Python parser (medflow.dag.DAG.from_syntax), so
# that R and Python read a model the same way and give the same errors. Returns the
# variables (in the graph's causal order), the edges (a two-column character matrix,
# parent and child, or NULL) and the correlated root pairs (a two-column matrix or
# NULL).
parse_syntax <- function(model) {
  dag <- tryCatch(
    medflow_module()$dag$DAG$from_syntax(model),
    error = function(e) {
      msg <- py_error_text(e)
      abort("model = : ", tolower(substr(msg, 1L, 1L)), substr(msg, 2L, nchar(msg)))
    }
  )
  vars <- as.character(reticulate::py_to_r(dag$order))
  parents <- reticulate::py_to_r(dag$parents)
  pairs <- function(rows) if (length(rows)) do.call(rbind, rows) else NULL
  edges <- pairs(lapply(vars, function(child) {
    p <- as.character(unlist(parents[[child]]))
    if (length(p)) cbind(p, child, deparse.level = 0)
  }))
  cors <- pairs(lapply(reticulate::py_to_r(dag$correlated), function(pair) {
    matrix(as.character(unlist(pair)), nrow = 1L)
  }))
  list(vars = vars, edges = edges, cors = cors)
}

# Check a model given as syntax, an edge list or an adjacency matrix.
# Returns list(kind, value, vars): `value` is what is handed to Python.
check_model <- function(model) {
  if (is.character(model) && !is.matrix(model)) {
    if (length(model) < 1L || anyNA(model)) {
      abort("model = must be lavaan-style syntax such as \"Y ~ X + M; M ~ X\", not ", describe(model), ".")
    }
    syntax <- paste(model, collapse = "\n")
    parsed <- parse_syntax(syntax)
    return(list(kind = "syntax", value = syntax, vars = parsed$vars))
  }
  if (is.matrix(model) && is.numeric(model) && nrow(model) == ncol(model) && nrow(model) > 1L) {
    rn <- rownames(model)
    cn <- colnames(model)
    if (is.null(rn) || is.null(cn) || !identical(rn, cn)) {
      abort("model = : an adjacency matrix needs the same variable names, in the same order, ",
            "as row and column names (rows are causes, columns effects).")
    }
    if (anyNA(model)) abort("model = : the adjacency matrix has missing entries.")
    if (any(diag(model) != 0)) abort("model = : the adjacency matrix has a self-loop on its diagonal.")
    return(list(kind = "adjacency", value = model, vars = rn))
  }
  if ((is.data.frame(model) || is.matrix(model)) && ncol(model) == 2L) {
    edges <- as.matrix(model)
    if (!is.character(edges) || anyNA(edges) || nrow(edges) < 1L) {
      abort("model = : an edge list needs two columns of variable names (parent, child).")
    }
    return(list(kind = "edges", value = unname(edges), vars = unique(as.vector(t(edges)))))
  }
  abort("model = must be lavaan-style syntax (\"Y ~ X + M; M ~ X\"), a two-column edge list ",
        "(parent, child) or a named square adjacency matrix (rows are causes), not ",
        describe(model), ".")
}

# Check the data for the model's variables.
check_data <- function(data, vars, arg = "data") {
  if (!is.data.frame(data)) {
    abort(arg, " = must be a data.frame, not ", describe(data), ".")
  }
  if (nrow(data) == 0L) {
    abort(arg, " = has no rows.")
  }
  absent <- setdiff(vars, names(data))
  if (length(absent)) {
    abort(arg, " = has no column", if (length(absent) > 1L) "s", " ",
          paste(absent, collapse = ", "), " (used in model =).")
  }
  bad <- vars[!vapply(data[vars], function(v) (is.numeric(v) || is.logical(v)) && !is.factor(v),
                      logical(1))]
  if (length(bad)) {
    kinds <- vapply(data[bad], function(v) class(v)[1], character(1))
    abort(arg, " = : model variables must be numeric; ", paste0(bad, " is ", kinds, collapse = ", "),
          ". Recode categories as integers (e.g. 0/1 with as.integer()) before fitting.")
  }
  invisible(data)
}

check_variable <- function(x, arg, vars) {
  check_string(x, arg)
  if (!(x %in% vars)) {
    abort(arg, " = \"", x, "\" is not a variable of the model (its variables are ",
          paste(vars, collapse = ", "), ").")
  }
  invisible(x)
}

check_effect_args <- function(vars, treatment, outcome, mediators = NULL, a = NULL, a_ref = NULL,
                              n_boot = 0, level = 0.95, seed = 0) {
  check_variable(treatment, "treatment", vars)
  check_variable(outcome, "outcome", vars)
  if (identical(treatment, outcome)) {
    abort("treatment = and outcome = must be different variables.")
  }
  if (!is.null(mediators)) {
    check_names_vector(mediators, "mediators")
    unknown <- setdiff(mediators, vars)
    if (length(unknown)) {
      abort("mediators = names ", paste(unknown, collapse = ", "),
            ", which are not variables of the model (", paste(vars, collapse = ", "), ").")
    }
    if (any(mediators %in% c(treatment, outcome))) {
      abort("mediators = must not contain the treatment or the outcome.")
    }
  }
  check_number(a, "a", null_ok = TRUE)
  check_number(a_ref, "a_ref", null_ok = TRUE)
  check_count(n_boot, "n_boot")
  check_level(level)
  check_count(seed, "seed")
  invisible(TRUE)
}

# Extra arguments passed through `...` must all be named (they are handed to
# Python by name, never by position).
check_dots_named <- function(dots, fun) {
  if (length(dots) && (is.null(names(dots)) || any(!nzchar(names(dots))))) {
    abort("Every argument in ... of ", fun, "() must be named (it is passed to Python by name).")
  }
  if ("at" %in% names(dots)) {
    abort("at = is no longer supported: it set the variables after abduction, which gives an effect ",
          "under an intervention on them rather than the effect conditional on their values. For ",
          "conditional effects select the units: where = \"V == 4\" (or a range such as ",
          "where = \"V >= 4\") or by = \"V\" for the effects within each value of V.")
  }
  invisible(dots)
}
