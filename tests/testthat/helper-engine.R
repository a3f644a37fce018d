# Shared by the test files: when to skip, the example data, and running R with another Python.

on_ci <- function() identical(tolower(Sys.getenv("CI")), "true")

# Skip only when the Python engine is truly absent, and never on CI (CI=true): there a missing
# engine must fail the tests, not hide them.
skip_if_no_engine <- function() {
  if (on_ci()) {
    return(invisible(TRUE))
  }
  testthat::skip_if_not(reticulate::py_module_available("sigfactor"),
                        "the sigfactor Python engine is not installed")
}

# MutationalPatterns' example mut_matrix: 96 mutation types x 9 samples. MutationalPatterns
# is a test requirement (scripts/setup.sh installs it): skipped without it, except on CI.
example_mut_matrix <- function() {
  if (!on_ci()) testthat::skip_if_not_installed("MutationalPatterns")
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

# Run `code` (after loading the package) in a new R session whose reticulate uses `python`;
# returns the lines it printed.
run_with_python <- function(code, python) {
  script <- tempfile(fileext = ".R")
  writeLines(c(load_package_code(), code), script)
  on.exit(unlink(script))
  rscript <- file.path(R.home("bin"), "Rscript")
  output <- suppressWarnings(system2(rscript, script, stdout = TRUE, stderr = TRUE,
                                     env = paste0("RETICULATE_PYTHON=", python)))
  output
}

# `x` with its rows renamed (same order).
with_rownames <- function(x, names) {
  rownames(x) <- names
  x
}
