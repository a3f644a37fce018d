# Shared by the test files: when to skip, the example data, and running R with another Python.

# Where a missing engine must fail the tests instead of skipping them: the project's test
# command (scripts/test.sh sets SIGFACTOR_REQUIRE_ENGINE=true, wherever it runs) and CI
# (CI=true).
engine_required <- function() {
  identical(tolower(Sys.getenv("SIGFACTOR_REQUIRE_ENGINE")), "true") ||
    identical(tolower(Sys.getenv("CI")), "true")
}
# Skip only when the Python engine is truly absent, and never where it is required: there a
# missing engine fails the test with the reason (sigfactor_config()'s message).
skip_if_no_engine <- function() {
  if (sigfactor_available()) {
    return(invisible(TRUE))
  }
  reason <- sigfactor_config()$message
  if (engine_required()) {
    stop("the sigfactor Python engine is required here (SIGFACTOR_REQUIRE_ENGINE or CI) but ",
         "not available: ", reason, call. = FALSE)
  }
  testthat::skip(paste("the sigfactor Python engine is not available:", reason))
}

# MutationalPatterns' example mut_matrix: 96 mutation types x 9 samples. MutationalPatterns
# is a test requirement (scripts/setup.sh installs it): skipped without it, except where the
# engine is required (then the test fails).
example_mut_matrix <- function() {
  if (!engine_required()) testthat::skip_if_not_installed("MutationalPatterns")
  readRDS(system.file("states/mut_mat_data.rds", package = "MutationalPatterns", mustWork = TRUE))
}

# The engine itself, for comparisons made without the package's conversions.
python_engine <- function() reticulate::import("sigfactor", convert = FALSE)

# A labelled pandas DataFrame built directly (not with the package's to_engine()).
pandas_frame <- function(x) {
  pandas <- reticulate::import("pandas", convert = FALSE)
  pandas$DataFrame(reticulate::np_array(unname(x), dtype = "float64"),
                   index = as.list(rownames(x)), columns = as.list(colnames(x)))
}

# A pandas DataFrame as an R matrix with its labels, built directly.
frame_matrix <- function(frame) {
  values <- reticulate::py_to_r(frame$to_numpy(dtype = "float64"))
  rownames(values) <- unlist(reticulate::py_to_r(frame$index$astype("str")$tolist()))
  colnames(values) <- unlist(reticulate::py_to_r(frame$columns$astype("str")$tolist()))
  values
}

# R code that loads this package in a fresh R session: from the source tree when the tests run
# on it (pkgload), otherwise from the library it is installed in (R CMD check).
load_package_code <- function() {
  path <- find.package("sigfactor")
  sources <- list.files(file.path(path, "R"), pattern = "\\.R$")
  if (length(sources) > 0) {
    sprintf("pkgload::load_all(%s, quiet = TRUE, export_all = FALSE)", deparse(path))
  } else {
    sprintf("library(sigfactor, lib.loc = %s)", deparse(dirname(path)))
  }
}

# A Python interpreter without the engine: a fresh virtual environment with no packages.
python_without_engine <- function() {
  base <- Sys.which("python3")
  if (!nzchar(base)) {
    stop("python3 is not on the PATH; it is needed to make a Python without the engine.")
  }
  home <- tempfile("no-sigfactor-")
  status <- system2(base, c("-m", "venv", "--without-pip", home), stdout = FALSE, stderr = FALSE)
  python <- file.path(home, "bin", "python")
  if (status != 0 || !file.exists(python)) {
    stop("could not create a virtual environment with ", base, " -m venv --without-pip.")
  }
  python
}

# Run `code` (after loading the package) in a new R session whose reticulate uses `python`
# (RETICULATE_PYTHON unset when NULL: the package or reticulate chooses), with further
# environment variables `env` (a named character vector); returns the lines it printed.
run_with_python <- function(code, python, env = character()) {
  script <- tempfile(fileext = ".R")
  writeLines(c(load_package_code(), code), script)
  on.exit(unlink(script))
  rscript <- file.path(R.home("bin"), "Rscript")
  assignments <- paste0(names(env), "=", shQuote(env))
  if (is.null(python)) {
    args <- c("-u", "RETICULATE_PYTHON", assignments, shQuote(rscript), shQuote(script))
  } else {
    args <- c(paste0("RETICULATE_PYTHON=", shQuote(python)), assignments, shQuote(rscript),
              shQuote(script))
  }
  suppressWarnings(system2("env", args, stdout = TRUE, stderr = TRUE))
}

# `x` with its rows renamed (same order).
with_rownames <- function(x, names) {
  rownames(x) <- names
  x
}

# The sigfactor source tree (with pyproject.toml): SIGFACTOR_SOURCE (scripts/test.sh sets it,
# for R CMD check, which tests the installed package), or the tree the tests run on; else NULL.
source_tree <- function() {
  for (path in c(Sys.getenv("SIGFACTOR_SOURCE"), find.package("sigfactor"))) {
    if (nzchar(path) && file.exists(file.path(path, "pyproject.toml"))) {
      return(normalizePath(path))
    }
  }
  NULL
}
