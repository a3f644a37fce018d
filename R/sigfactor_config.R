#' Report the Python engine that sigfactor finds
#'
#' Says which Python reticulate uses, whether the 'sigfactor' engine is installed in it, the
#' versions of 'sigfactor', 'torch' and 'numpy', and the devices the engine can compute on.
#' It does not fail when the engine is missing: it says so, and how to install it.
#'
#' @return A list of class \code{sigfactor_config} (printed as a short report):
#' \describe{
#'   \item{python}{Path of the Python interpreter.}
#'   \item{python_version}{Its version.}
#'   \item{available}{Whether the 'sigfactor' module was found and imports.}
#'   \item{sigfactor, torch, numpy}{Module versions (\code{NA} when absent).}
#'   \item{devices}{Named character vector: names are device identifiers for the
#'     \code{device} argument (\code{"cpu"}, \code{"cuda:0"}, ...), values describe them.}
#'   \item{default_device}{What \code{device = "auto"} selects.}
#'   \item{message}{When the engine is missing, how to install it; when it fails to import,
#'     why; otherwise \code{NULL}.}
#' }
#'
#' @examples
#' \dontrun{
#' sigfactor_config()
#' }
#' @export
sigfactor_config <- function() {
  config <- tryCatch(reticulate::py_config(), error = function(e) NULL)
  problem <- tryCatch({
    engine()
    NULL
  }, error = function(e) conditionMessage(e))
  available <- is.null(problem)
  result <- list(
    python = python_path(),
    python_version = if (is.null(config)) NA_character_ else as.character(config$version),
    available = available,
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

#' @export
print.sigfactor_config <- function(x, ...) {
  cat("sigfactor configuration\n")
  cat("  python:    ", x$python, if (!is.na(x$python_version)) paste0(" (", x$python_version, ")"), "\n", sep = "")
  if (!x$available) {
    cat("  engine:     not available\n")
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
