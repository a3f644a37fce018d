#' Report the Python engine that sigfactor finds
#'
#' Says which Python reticulate uses and why, whether the 'sigfactor' engine is installed in it
#' and has the version this package needs, the versions of 'sigfactor', 'torch' and 'numpy',
#' and the devices the engine can compute on. It does not fail when the engine is missing or
#' does not match: it says so, and how to fix it.
#'
#' @return A list of class \code{sigfactor_config} (printed as a short report):
#' \describe{
#'   \item{python}{Path of the Python interpreter.}
#'   \item{python_version}{Its version.}
#'   \item{python_source}{Why this Python: \code{"RETICULATE_PYTHON"}, \code{"r-sigfactor"}
#'     (the environment \code{\link{install_sigfactor}} makes) or \code{"reticulate"}
#'     (reticulate's own choice).}
#'   \item{available}{Whether the engine was found, imports, and has the required version.}
#'   \item{engine_required}{The engine version this R package needs.}
#'   \item{sigfactor, torch, numpy}{Module versions (\code{NA} when absent).}
#'   \item{devices}{Named character vector: names are device identifiers for the
#'     \code{device} argument (\code{"cpu"}, \code{"cuda:0"}, ...), values describe them.}
#'   \item{default_device}{What \code{device = "auto"} selects.}
#'   \item{message}{When the engine is missing, how to install it; when it fails to import or
#'     has another version, why and how to fix it; otherwise \code{NULL}.}
#' }
#'
#' @seealso \code{\link{install_sigfactor}}, \code{\link{sigfactor_available}}
#' @examples
#' sigfactor_config()
#' @export
sigfactor_config <- function() {
  problem <- tryCatch({
    engine()
    NULL
  }, error = function(e) conditionMessage(e))
  config <- tryCatch(reticulate::py_config(), error = function(e) NULL)
  available <- is.null(problem)
  result <- list(
    python = python_path(),
    python_version = if (is.null(config)) NA_character_ else as.character(config$version),
    python_source = python_source(),
    available = available,
    engine_required = engine_version_required(),
    sigfactor = NA_character_,
    torch = NA_character_,
    numpy = NA_character_,
    devices = character(0),
    default_device = NA_character_,
    message = problem
  )
  if (available) {
    torch <- reticulate::import("torch", convert = TRUE)
    version <- function(module) as_text(reticulate::py_get_attr(module, "__version__"))
    result$sigfactor <- version(engine())
    result$torch <- version(torch)
    result$numpy <- version(reticulate::import("numpy", convert = FALSE))
    n_gpus <- if (torch$cuda$is_available()) torch$cuda$device_count() else 0L
    gpus <- vapply(seq_len(n_gpus) - 1L, function(i) torch$cuda$get_device_name(i), "")
    result$devices <- c(cpu = "CPU", stats::setNames(gpus, sprintf("cuda:%d", seq_len(n_gpus) - 1L)))
    result$default_device <- if (n_gpus > 0) "cuda:0" else "cpu"
  }
  structure(result, class = "sigfactor_config")
}

# Why reticulate uses the Python it uses.
python_source <- function() {
  if (nzchar(Sys.getenv("RETICULATE_PYTHON"))) {
    return("RETICULATE_PYTHON")
  }
  ours <- default_environment_python()
  config <- tryCatch(reticulate::py_config(), error = function(e) NULL)
  # Compared by the environment's folder (sys.prefix): every environment's python links to
  # the same base interpreter, so the interpreters' resolved paths would all agree.
  if (!is.null(ours) && !is.null(config) &&
      normalizePath(config$prefix, mustWork = FALSE) ==
        normalizePath(environment_path("r-sigfactor"), mustWork = FALSE)) {
    return("r-sigfactor")
  }
  "reticulate"
}

#' @export
print.sigfactor_config <- function(x, ...) {
  cat("sigfactor configuration\n")
  cat("  python:    ", x$python, if (!is.na(x$python_version)) paste0(" (", x$python_version, ")"),
      "\n", sep = "")
  cat("  chosen by: ", switch(x$python_source,
                              RETICULATE_PYTHON = "RETICULATE_PYTHON",
                              "r-sigfactor" = "the r-sigfactor environment (install_sigfactor())",
                              "reticulate's default"), "\n", sep = "")
  if (!x$available) {
    cat("  engine:     not available (this package needs sigfactor ", x$engine_required, ")\n",
        sep = "")
    cat(strwrap(x$message, indent = 2, exdent = 2), sep = "\n")
    return(invisible(x))
  }
  cat("  sigfactor: ", x$sigfactor, "\n", sep = "")
  cat("  torch:     ", x$torch, "\n", sep = "")
  cat("  numpy:     ", x$numpy, "\n", sep = "")
  cat("  devices:   ", paste0(names(x$devices), " (", x$devices, ")", collapse = ", "), "\n", sep = "")
  cat("  'auto':    ", x$default_device, "\n", sep = "")
  invisible(x)
}

#' Whether the Python engine is ready
#'
#' \code{TRUE} when the 'sigfactor' engine is installed in the Python reticulate uses, imports
#' and has the version this package needs; \code{FALSE} otherwise (\code{\link{sigfactor_config}}
#' says why). Examples and vignettes use it to run only where the engine is.
#'
#' @return \code{TRUE} or \code{FALSE}.
#' @seealso \code{\link{sigfactor_config}}, \code{\link{install_sigfactor}}
#' @examples
#' sigfactor_available()
#' @export
sigfactor_available <- function() {
  tryCatch({
    engine()
    TRUE
  }, error = function(e) FALSE)
}
