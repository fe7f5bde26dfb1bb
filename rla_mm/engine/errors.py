"""The one exception type for bad user input found at run time."""


class UserInputError(ValueError):
    """Input the user can fix (a checkpoint, a data set, an argument).

    The message is one line that names the file or argument and says what
    to do; rla_mm's tools print it as ``error: <message>`` on stderr and
    exit with status 1 instead of showing a traceback.
    """
