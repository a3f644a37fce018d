# Run the R package's testthat tests against the source tree, for a quick run while developing
# (scripts/test.sh runs them inside R CMD check instead: scripts/check_r.sh).
#
# Loads the package from the source with pkgload when it is installed, otherwise installs it
# into a temporary library with R CMD INSTALL, runs tests/testthat, prints a last line
# "N passed, N failed, N skipped" and exits with status 1 when anything failed.
# Without RETICULATE_PYTHON, the repository's .venv/bin/python is used when it exists.

script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
root <- normalizePath(file.path(dirname(if (length(script)) script[1] else "tests/x"), ".."))
venv_python <- file.path(root, ".venv", "bin", "python")
if (!nzchar(Sys.getenv("RETICULATE_PYTHON")) && file.exists(venv_python)) {
  Sys.setenv(RETICULATE_PYTHON = venv_python)
}

load_from_source <- function(root) {
  if (requireNamespace("pkgload", quietly = TRUE)) {
    pkgload::load_all(root, quiet = TRUE, export_all = FALSE, helpers = FALSE)
    return(invisible())
  }
  library_dir <- tempfile("sigfactor-lib-")
  dir.create(library_dir)
  status <- system2(file.path(R.home("bin"), "R"),
                    c("CMD", "INSTALL", "--no-docs", "--no-multiarch", "-l",
                      shQuote(library_dir), shQuote(root)))
  if (status != 0) {
    stop("R CMD INSTALL of ", root, " failed with status ", status, ".", call. = FALSE)
  }
  library(sigfactor, lib.loc = library_dir)
}

outcome <- tryCatch({
  load_from_source(root)
  results <- testthat::test_dir(file.path(root, "tests", "testthat"), reporter = "summary",
                                stop_on_failure = FALSE, stop_on_warning = FALSE,
                                load_package = "none")
  as.data.frame(results)
}, error = function(e) e)

if (inherits(outcome, "error")) {
  cat("R tests could not run: ", conditionMessage(outcome), "\n", sep = "")
  cat("0 passed, 1 failed, 0 skipped\n")
  quit(status = 1)
}
passed <- sum(outcome$passed)
failed <- sum(outcome$failed) + sum(outcome$error)
skipped <- sum(outcome$skipped)
cat(sprintf("\nR tests (%d test blocks in %d files): %.1f s\n", nrow(outcome),
            length(unique(outcome$file)), sum(outcome$real)))
cat(sprintf("%d passed, %d failed, %d skipped\n", passed, failed, skipped))
quit(status = if (failed > 0) 1 else 0)
