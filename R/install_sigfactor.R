#' Install the Python engine into a virtual environment for sigfactor
#'
#' Creates a Python virtual environment and installs the 'sigfactor' engine into it with
#' \code{pip}: from a package index (the engine version this R package needs) or from a source
#' tree or a wheel. The environment is created where reticulate keeps its virtual environments
#' (\code{reticulate::virtualenv_root()}), named \code{"r-sigfactor"} by default; when
#' \code{RETICULATE_PYTHON} is not set, \code{library(sigfactor)} uses it on its own, so setting
#' \code{RETICULATE_PYTHON} by hand is optional.
#'
#' Python is started in a separate process: the R session's own Python (if any) is not touched.
#' Restart R after installing so that reticulate picks the new environment.
#'
#' @param source \code{NULL} to install \code{sigfactor==}\emph{version} from the package index
#'   \code{pip} is configured with (the engine version of this package, see
#'   \code{\link{sigfactor_config}}); or the path of a sigfactor source tree (the folder with
#'   \code{pyproject.toml}) or of a wheel or source archive.
#' @param envname Name of the environment under \code{reticulate::virtualenv_root()}, or a path
#'   (containing a \code{/}) for an environment elsewhere.
#' @param python The Python (3.10 or later) that creates the environment; by default the first
#'   \code{python3} on the \code{PATH}.
#' @param pip_options Further \code{pip install} options, for example
#'   \code{c("--index-url", "https://my.mirror/simple")} or \code{"--no-deps"} (the
#'   dependencies then come from elsewhere).
#' @param force Replace an existing environment (\code{TRUE}) or install into it
#'   (\code{FALSE}).
#'
#' @return The path of the environment's Python interpreter, invisibly.
#'
#' @seealso \code{\link{sigfactor_config}}
#' @examples
#' # Where the environment goes by default, and the Python the package uses now:
#' file.path(reticulate::virtualenv_root(), "r-sigfactor")
#' sigfactor_config()$python
#' # install_sigfactor() installs the engine from the package index;
#' # install_sigfactor("path/to/sigfactor") from a source tree.
#' @export
install_sigfactor <- function(source = NULL, envname = "r-sigfactor", python = NULL,
                              pip_options = character(), force = FALSE) {
  force <- check_flag(force, "force")
  if (!is.character(envname) || length(envname) != 1 || is.na(envname) || !nzchar(envname)) {
    stop(sprintf("envname = %s is not valid; expected a name or a folder path.", shown(envname)),
         call. = FALSE)
  }
  if (!is.character(pip_options) || anyNA(pip_options)) {
    stop(sprintf("pip_options = %s is not valid; expected a character vector.",
                 shown(pip_options)), call. = FALSE)
  }
  spec <- engine_spec(source)
  base <- base_python(python)
  home <- environment_path(envname)
  if (dir.exists(home) && force) {
    unlink(home, recursive = TRUE)
  }
  env_python <- file.path(home, "bin", "python")
  if (!file.exists(env_python)) {
    dir.create(dirname(home), recursive = TRUE, showWarnings = FALSE)
    cli::cli_inform("Creating the virtual environment {.path {home}}.")
    run_command(base, c("-m", "venv", shQuote(home)), "creating the virtual environment")
  }
  cli::cli_inform("Installing {.val {spec}} into it with pip.")
  run_command(env_python, c("-m", "pip", "install", "--disable-pip-version-check",
                            shQuote(pip_options), shQuote(spec)),
              "installing the engine")
  cli::cli_inform(c(
    "v" = "The engine is installed in {.path {home}}.",
    "i" = "Restart R: {.code library(sigfactor)} then uses {.path {env_python}} when {.envvar RETICULATE_PYTHON} is not set."
  ))
  invisible(env_python)
}

# The folder of environment `envname`: a path as given, or a name under reticulate's root.
environment_path <- function(envname) {
  if (grepl("/", envname, fixed = TRUE)) {
    return(normalizePath(path.expand(envname), mustWork = FALSE))
  }
  normalizePath(file.path(path.expand(reticulate::virtualenv_root()), envname), mustWork = FALSE)
}

# What pip installs: the engine version this package needs, or a source tree or archive.
engine_spec <- function(source) {
  if (is.null(source)) {
    return(paste0("sigfactor==", engine_version_required()))
  }
  if (!is.character(source) || length(source) != 1 || is.na(source)) {
    stop(sprintf("source = %s is not valid; expected NULL or the path of a sigfactor source tree or wheel.",
                 shown(source)), call. = FALSE)
  }
  path <- normalizePath(path.expand(source), mustWork = FALSE)
  if (dir.exists(path) && !file.exists(file.path(path, "pyproject.toml"))) {
    stop(sprintf("source = \"%s\" is a folder without pyproject.toml; expected the sigfactor source tree.",
                 source), call. = FALSE)
  }
  if (!file.exists(path)) {
    stop(sprintf("source = \"%s\" does not exist; expected a sigfactor source tree or wheel.",
                 source), call. = FALSE)
  }
  path
}

# The Python that creates the environment: `python`, or the first python3 on the PATH; 3.10 or
# later.
base_python <- function(python) {
  if (is.null(python)) {
    python <- unname(Sys.which("python3"))
    if (!nzchar(python)) {
      stop("No python3 on the PATH; pass python = the path of a Python 3.10 or later.",
           call. = FALSE)
    }
  }
  if (!is.character(python) || length(python) != 1 || is.na(python) || !file.exists(python)) {
    stop(sprintf("python = %s is not valid; expected the path of a Python interpreter.",
                 shown(python)), call. = FALSE)
  }
  version <- suppressWarnings(system2(python, c("-c", shQuote(
    "import sys; print('%d.%d' % sys.version_info[:2])")), stdout = TRUE, stderr = TRUE))
  if (length(version) != 1 || !grepl("^[0-9]+\\.[0-9]+$", version) ||
      utils::compareVersion(version, "3.10") < 0) {
    stop(sprintf("python = \"%s\" is Python %s; expected Python 3.10 or later.", python,
                 paste(version, collapse = " ")), call. = FALSE)
  }
  python
}

# Run a command; on failure, an error with the step and the last lines of its output.
run_command <- function(command, args, step) {
  output <- suppressWarnings(system2(command, args, stdout = TRUE, stderr = TRUE))
  status <- attr(output, "status")
  if (!is.null(status) && status != 0) {
    stop(sprintf("%s failed (%s exited with status %d):\n%s", tools::toTitleCase(step),
                 basename(command), status,
                 paste(utils::tail(output, 15), collapse = "\n")), call. = FALSE)
  }
  invisible(output)
}

# The Python of the environment install_sigfactor() makes by default, or NULL when there is none.
default_environment_python <- function() {
  python <- file.path(environment_path("r-sigfactor"), "bin", "python")
  if (file.exists(python)) python else NULL
}
