# When RETICULATE_PYTHON is not set, prefer the environment install_sigfactor() makes
# ("r-sigfactor" under reticulate's virtualenv root), so that a user who installed the engine
# that way needs no configuration. Nothing here starts Python: library(sigfactor) never fails
# because of Python.
.onLoad <- function(libname, pkgname) {
  if (!nzchar(Sys.getenv("RETICULATE_PYTHON"))) {
    python <- default_environment_python()
    if (!is.null(python)) {
      reticulate::use_python(python, required = FALSE)
    }
  }
}
